//! Serial numbers: 126 bits of CSPRNG output, positive, exactly 16 octets in DER.

use std::fmt;

use getrandom::SysRng;
use rand_core::TryRng;

const SERIAL_BYTES: usize = 16;
/// Width of the ledger form: 20 octets, the RFC 5280 maximum, as hex.
pub const LEDGER_HEX_WIDTH: usize = 40;

/// A certificate serial number: the big-endian magnitude of a positive INTEGER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A fresh random serial. The top bit is cleared (positive INTEGER) and the low bit of the
    /// first octet set, so the DER encoding is always exactly 16 octets with no padding.
    pub fn random() -> Result<Serial, String> {
        let mut bytes = [0u8; SERIAL_BYTES];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| format!("the system random number generator failed: {e}"))?;
        bytes[0] = (bytes[0] & 0x7f) | 0x01;
        Ok(Serial(bytes.to_vec()))
    }

    /// From the big-endian magnitude bytes of a DER INTEGER (leading zeros dropped).
    pub fn from_be_bytes(bytes: &[u8]) -> Serial {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Serial(bytes[start..].to_vec())
    }

    /// The big-endian magnitude bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The ledger form: lower-case hex zero-padded to 40 digits, so text order is numeric order.
    pub fn ledger_hex(&self) -> String {
        format!("{:0>width$}", self.hex(), width = LEDGER_HEX_WIDTH)
    }

    /// Plain lower-case hex without leading zeros (as `openssl x509 -serial` prints, lower-cased).
    pub fn hex(&self) -> String {
        if self.0.is_empty() {
            return "0".to_string();
        }
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Decodes the ledger form into `buf` without allocating and returns the significant bytes
    /// (no leading zeros): the CRL builder does this a million times.
    pub fn decode_ledger_hex<'b>(hex: &str, buf: &'b mut [u8; 20]) -> Option<&'b [u8]> {
        let digits = hex.as_bytes();
        if digits.len() != LEDGER_HEX_WIDTH {
            return None;
        }
        for (byte, pair) in buf.iter_mut().zip(digits.chunks_exact(2)) {
            *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        let start = buf.iter().position(|b| *b != 0).unwrap_or(buf.len());
        Some(&buf[start..])
    }

    /// Parses the ledger form back.
    pub fn from_ledger_hex(hex: &str) -> Option<Serial> {
        let trimmed = hex.trim_start_matches('0');
        let padded = if trimmed.len() % 2 == 1 { format!("0{trimmed}") } else { trimmed.to_string() };
        let bytes = (0..padded.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(padded.get(i..i + 2)?, 16).ok())
            .collect::<Option<Vec<u8>>>()?;
        Some(Serial(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Serial {
    /// Colon-separated, as most tools print serials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.write_str(&parts.join(":"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_serials_are_positive_16_octets_and_distinct() {
        let serials: std::collections::HashSet<Vec<u8>> =
            (0..1000).map(|_| Serial::random().unwrap().0).collect();
        assert_eq!(serials.len(), 1000);
        for s in &serials {
            assert_eq!(s.len(), 16);
            assert!(s[0] & 0x80 == 0 && s[0] != 0);
        }
    }

    #[test]
    fn ledger_hex_round_trips_and_sorts_numerically() {
        let s = Serial::from_be_bytes(&[0, 0x01, 0xff]);
        assert_eq!(s.hex(), "01ff");
        assert_eq!(s.ledger_hex().len(), 40);
        assert_eq!(Serial::from_ledger_hex(&s.ledger_hex()), Some(s));
        assert!(
            Serial::from_be_bytes(&[0x02]).ledger_hex() < Serial::from_be_bytes(&[0x01, 0x00]).ledger_hex()
        );
    }
}
