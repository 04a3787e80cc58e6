//! `pkictl verify --trust --chain --crl` as an RFC 5280 path validator, on chains built with
//! the openssl binary (explicit extensions through -extfile). Every case is also put to
//! `openssl verify -x509_strict -purpose sslserver|sslclient` and to rustls-webpki; where one
//! of them disagrees with pkictl, the case says so and names the RFC clause pkictl follows.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

/// Seconds from now at which most cases are verified: every certificate is valid then.
const SOON: i64 = 3600;

fn openssl(args: &[&str], dir: &Path) -> Output {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl binary");
    assert!(out.status.success(), "openssl {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    out
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

const CA_EXT: &str = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";
const ROOT_EXT: &str =
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n";

fn leaf_ext(san: &str) -> String {
    format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\nsubjectAltName={san}\n"
    )
}

/// A scratch directory where openssl makes keys and certificates.
struct Lab {
    dir: tempfile::TempDir,
}

#[derive(Clone)]
struct Made {
    cert: PathBuf,
    key: PathBuf,
}

impl Lab {
    fn new() -> Lab {
        Lab { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        openssl(args, self.dir.path())
    }

    fn key(&self, name: &str, kind: &str) -> PathBuf {
        let key = self.path(&format!("{name}.key"));
        let k = key.to_str().unwrap();
        match kind {
            "ec" => {
                self.run(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", k])
            }
            "rsa1024" => {
                self.run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", k])
            }
            "rsa2048" => {
                self.run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k])
            }
            other => panic!("key kind {other}"),
        };
        key
    }

    /// A certificate for `subject` with exactly the extensions `ext`, signed by `issuer`
    /// (self-signed when None), valid for `days` from now; `key` reuses a key (cross-signing).
    fn make(
        &self,
        name: &str,
        subject: &str,
        ext: &str,
        issuer: Option<&Made>,
        days: u32,
        key: Option<&Path>,
    ) -> Made {
        let key = key.map(Path::to_path_buf).unwrap_or_else(|| self.key(name, "ec"));
        self.make_with(name, subject, ext, issuer, days, &key, &[])
    }

    #[allow(clippy::too_many_arguments)]
    fn make_with(
        &self,
        name: &str,
        subject: &str,
        ext: &str,
        issuer: Option<&Made>,
        days: u32,
        key: &Path,
        extra: &[&str],
    ) -> Made {
        let csr = self.path(&format!("{name}.csr"));
        let cert = self.path(&format!("{name}.pem"));
        let extfile = self.path(&format!("{name}.ext"));
        fs::write(&extfile, ext).unwrap();
        let (k, c, e, r) =
            (key.to_str().unwrap(), cert.to_str().unwrap(), extfile.to_str().unwrap(), csr.to_str().unwrap());
        self.run(&["req", "-new", "-key", k, "-subj", subject, "-out", r]);
        let days = days.to_string();
        let serial =
            format!("0x{:x}", 0x1000 + name.bytes().map(u64::from).sum::<u64>() * 7919 + name.len() as u64);
        let mut args =
            vec!["x509", "-req", "-in", r, "-out", c, "-days", &days, "-set_serial", &serial, "-sha256"];
        if !ext.is_empty() {
            args.extend(["-extfile", e]);
        }
        let (ca_cert, ca_key);
        match issuer {
            Some(issuer) => {
                ca_cert = issuer.cert.to_str().unwrap().to_string();
                ca_key = issuer.key.to_str().unwrap().to_string();
                args.extend(["-CA", &ca_cert, "-CAkey", &ca_key]);
            }
            None => args.extend(["-signkey", k]),
        }
        args.extend(extra);
        self.run(&args);
        Made { cert, key: key.to_path_buf() }
    }

    fn root(&self, name: &str) -> Made {
        self.make(name, &format!("/CN={name}"), ROOT_EXT, None, 3650, None)
    }

    fn ca(&self, name: &str, issuer: &Made) -> Made {
        self.make(name, &format!("/CN={name}"), CA_EXT, Some(issuer), 3650, None)
    }

    fn leaf(&self, name: &str, san: &str, issuer: &Made) -> Made {
        self.make(name, &format!("/CN={name}"), &leaf_ext(san), Some(issuer), 365, None)
    }

    fn bundle(&self, name: &str, certs: &[&Made]) -> PathBuf {
        let path = self.path(name);
        let text: String = certs.iter().map(|m| fs::read_to_string(&m.cert).unwrap()).collect();
        fs::write(&path, text).unwrap();
        path
    }
}

/// One verification, put to the three verifiers.
struct Case<'a> {
    lab: &'a Lab,
    leaf: &'a Made,
    chain: Vec<&'a Made>,
    roots: Vec<&'a Made>,
    purpose: &'static str,
    host: Option<&'static str>,
    at: i64,
    crls: Vec<PathBuf>,
    max_depth: Option<usize>,
}

impl<'a> Case<'a> {
    fn new(lab: &'a Lab, leaf: &'a Made, chain: &[&'a Made], roots: &[&'a Made]) -> Case<'a> {
        Case {
            lab,
            leaf,
            chain: chain.to_vec(),
            roots: roots.to_vec(),
            purpose: "server",
            host: None,
            at: now() + SOON,
            crls: Vec::new(),
            max_depth: None,
        }
    }

    fn files(&self) -> (PathBuf, Option<PathBuf>) {
        let roots = self.lab.bundle("case-roots.pem", &self.roots);
        let chain = (!self.chain.is_empty()).then(|| self.lab.bundle("case-chain.pem", &self.chain));
        (roots, chain)
    }

    /// pkictl's verdict, and its --json report.
    fn pkictl(&self) -> (bool, serde_json::Value) {
        let (roots, chain) = self.files();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pkictl"));
        cmd.arg("--home").arg(self.lab.path("no-such-home"));
        cmd.args(["--json", "verify"]).arg(&self.leaf.cert).arg("--trust").arg(&roots);
        if let Some(chain) = &chain {
            cmd.arg("--chain").arg(chain);
        }
        cmd.args(["--purpose", self.purpose, "--at", &rfc3339(self.at)]);
        if let Some(host) = self.host {
            cmd.args(["--host", host]);
        }
        for crl in &self.crls {
            cmd.arg("--crl").arg(crl);
        }
        if let Some(depth) = self.max_depth {
            cmd.args(["--max-depth", &depth.to_string()]);
        }
        let out = cmd.output().unwrap();
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "pkictl verify exit {code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        assert_eq!(report["accepted"].as_bool(), Some(code == 0), "{report}");
        assert!(!self.lab.path("no-such-home").exists(), "verify --trust created a home");
        (code == 0, report)
    }

    fn openssl(&self) -> (bool, String) {
        let (roots, chain) = self.files();
        let at = self.at.to_string();
        let depth = self.max_depth.map(|d| d.to_string());
        let purpose = if self.purpose == "server" { "sslserver" } else { "sslclient" };
        let mut args = vec![
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-attime",
            &at,
            "-CAfile",
            roots.to_str().unwrap(),
        ];
        if let Some(chain) = &chain {
            args.extend(["-untrusted", chain.to_str().unwrap()]);
        }
        if let Some(host) = self.host {
            let flag =
                if host.parse::<std::net::IpAddr>().is_ok() { "-verify_ip" } else { "-verify_hostname" };
            args.extend([flag, host]);
        }
        if let Some(depth) = &depth {
            args.extend(["-verify_depth", depth]);
        }
        if !self.crls.is_empty() {
            args.push("-crl_check");
        }
        for crl in &self.crls {
            args.extend(["-CRLfile", crl.to_str().unwrap()]);
        }
        args.push(self.leaf.cert.to_str().unwrap());
        let out = Command::new("openssl").args(&args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }

    fn webpki(&self) -> (bool, String) {
        let der = |m: &Made| pem_der(&m.cert);
        let roots: Vec<CertificateDer<'static>> =
            self.roots.iter().map(|m| CertificateDer::from(der(m))).collect();
        let anchors: Vec<_> = roots.iter().filter_map(|r| webpki::anchor_from_trusted_cert(r).ok()).collect();
        let chain: Vec<CertificateDer<'static>> =
            self.chain.iter().map(|m| CertificateDer::from(der(m))).collect();
        let leaf = CertificateDer::from(der(self.leaf));
        let ee = match webpki::EndEntityCert::try_from(&leaf) {
            Ok(ee) => ee,
            Err(e) => return (false, format!("{e:?}")),
        };
        let usage = if self.purpose == "server" {
            webpki::KeyUsage::server_auth()
        } else {
            webpki::KeyUsage::client_auth()
        };
        let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(self.at as u64));
        let verified = ee
            .verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &anchors, &chain, time, usage, None, None)
            .map(|_| ());
        let named = match self.host {
            Some(host) => ServerName::try_from(host)
                .map_err(|_| webpki::Error::BadDer)
                .and_then(|name| ee.verify_is_valid_for_subject_name(&name)),
            None => Ok(()),
        };
        match verified.and(named) {
            Ok(()) => (true, String::new()),
            Err(e) => (false, format!("{e:?}")),
        }
    }

    /// pkictl says `expected`, and so do OpenSSL and webpki unless a disagreement is declared
    /// (`Some(their verdict)`), in which case pkictl's verdict is the RFC's.
    #[track_caller]
    fn expect(
        &self,
        expected: bool,
        openssl_says: Option<bool>,
        webpki_says: Option<bool>,
    ) -> serde_json::Value {
        let what = self.leaf.cert.file_name().unwrap().to_string_lossy().to_string();
        let (verdict, report) = self.pkictl();
        assert_eq!(verdict, expected, "{what}: pkictl: {}", serde_json::to_string_pretty(&report).unwrap());
        let (os, why) = self.openssl();
        assert_eq!(os, openssl_says.unwrap_or(expected), "{what}: openssl verify -x509_strict: {why}");
        if self.crls.is_empty() {
            let (wp, why) = self.webpki();
            assert_eq!(wp, webpki_says.unwrap_or(expected), "{what}: webpki: {why}");
        }
        report
    }
}

fn pem_der(path: &Path) -> Vec<u8> {
    let text = fs::read_to_string(path).unwrap();
    let (_, der) = der::pem::decode_vec(text.trim().as_bytes()).unwrap();
    der
}

/// `made` with its extension 2.5.29.99 renamed 2.5.29.17 (a second subjectAltName), signed
/// again by `issuer`.
fn resign_with_duplicate_san(lab: &Lab, made: &Made, issuer: &Made) -> Made {
    let der = pem_der(&made.cert);
    let placeholder = [0x06, 0x03, 0x55, 0x1d, 0x63];
    let at = der.windows(5).position(|w| w == placeholder).expect("the placeholder extension");
    let mut der = der;
    der[at + 4] = 0x11;
    // Outer SEQUENCE header, then tbsCertificate (a SEQUENCE with a long-form length).
    let outer_header = if der[1] & 0x80 != 0 { 2 + (der[1] & 0x7f) as usize } else { 2 };
    let tbs_len_bytes =
        if der[outer_header + 1] & 0x80 != 0 { (der[outer_header + 1] & 0x7f) as usize } else { 0 };
    let tbs_content: usize = if tbs_len_bytes == 0 {
        der[outer_header + 1] as usize
    } else {
        der[outer_header + 2..outer_header + 2 + tbs_len_bytes].iter().fold(0, |n, b| n << 8 | *b as usize)
    };
    let tbs_end = outer_header + 2 + tbs_len_bytes + tbs_content;
    let tbs = &der[outer_header..tbs_end];
    let tbs_file = lab.path("dup.tbs");
    fs::write(&tbs_file, tbs).unwrap();
    let sig_file = lab.path("dup.sig");
    lab.run(&[
        "dgst",
        "-sha256",
        "-sign",
        issuer.key.to_str().unwrap(),
        "-out",
        sig_file.to_str().unwrap(),
        tbs_file.to_str().unwrap(),
    ]);
    let signature = fs::read(&sig_file).unwrap();
    let algorithm = [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    let mut bits = vec![0x03];
    push_len(&mut bits, signature.len() + 1);
    bits.push(0);
    bits.extend(&signature);
    let mut body = tbs.to_vec();
    body.extend(algorithm);
    body.extend(bits);
    let mut cert = vec![0x30];
    push_len(&mut cert, body.len());
    cert.extend(body);
    let path = lab.path("duplicate-san.pem");
    fs::write(&path, der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &cert).unwrap())
        .unwrap();
    Made { cert: path, key: made.key.clone() }
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
}

fn failed_layer(report: &serde_json::Value) -> String {
    report["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["status"] == "failed")
        .map(|l| format!("{}: {}", l["layer"].as_str().unwrap(), l["detail"].as_str().unwrap()))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Chains, validity, depth

#[test]
fn a_partner_chain_verifies_and_the_host_must_match() {
    let lab = Lab::new();
    let root = lab.root("Partner Root");
    let inter = lab.ca("Partner Issuing", &root);
    let leaf = lab.leaf("api.partner.test", "DNS:api.partner.test", &inter);
    let mut case = Case::new(&lab, &leaf, &[&inter], &[&root]);
    case.host = Some("api.partner.test");
    let report = case.expect(true, None, None);
    assert_eq!(report["path"].as_array().unwrap().len(), 3, "{report}");
    case.host = Some("www.partner.test");
    let report = case.expect(false, None, None);
    assert!(failed_layer(&report).starts_with("host"), "{report}");
    // Without the intermediate there is no path.
    case.host = None;
    case.chain.clear();
    let report = case.expect(false, None, None);
    assert!(failed_layer(&report).starts_with("chain"), "{report}");
    // An unrelated anchor first in the bundle does not matter.
    let other = lab.root("Other Root");
    let mut case = Case::new(&lab, &leaf, &[&inter], &[&other, &root]);
    case.purpose = "client";
    case.expect(true, None, None);
}

#[test]
fn not_after_is_inclusive_and_an_expired_intermediate_fails_validity() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let inter = lab.make("Short", "/CN=Short", CA_EXT, Some(&root), 2, None);
    let leaf = lab.leaf("www.example.test", "DNS:www.example.test", &inter);
    let mut case = Case::new(&lab, &leaf, &[&inter], &[&root]);
    case.at = now() + 10 * 86_400;
    let report = case.expect(false, None, None);
    assert!(
        failed_layer(&report).starts_with("validity") && failed_layer(&report).contains("Short"),
        "{report}"
    );
    // RFC 5280 4.1.2.5: the validity period runs "from notBefore through notAfter, inclusive".
    // OpenSSL counts the notAfter second itself as expired (X509_cmp_time); webpki agrees
    // with pkictl.
    let not_after = lab_not_after(&lab, &inter);
    case.at = not_after;
    case.expect(true, Some(false), None);
    case.at = not_after + 1;
    case.expect(false, None, None);
}

fn lab_not_after(lab: &Lab, made: &Made) -> i64 {
    let out = lab.run(&["x509", "-in", made.cert.to_str().unwrap(), "-noout", "-enddate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let date = text.trim().trim_start_matches("notAfter=");
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:space] [hour]:[minute]:[second] [year] GMT"
    );
    time::PrimitiveDateTime::parse(date, &format).unwrap().assume_utc().unix_timestamp()
}

#[test]
fn the_depth_limit_counts_intermediates() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let i1 = lab.ca("I1", &root);
    let i2 = lab.ca("I2", &i1);
    let i3 = lab.ca("I3", &i2);
    let leaf = lab.leaf("deep.example.test", "DNS:deep.example.test", &i3);
    let mut case = Case::new(&lab, &leaf, &[&i3, &i2, &i1], &[&root]);
    case.expect(true, None, None);
    case.max_depth = Some(3);
    case.expect(true, None, None);
    case.max_depth = Some(2);
    // webpki has a fixed depth limit (6 intermediates), no option.
    let report = case.expect(false, None, Some(true));
    assert!(report.to_string().contains("depth limit"), "{report}");
}

#[test]
fn path_building_backs_out_of_a_candidate_with_the_wrong_extended_key_usage() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let key = lab.key("Issuing", "ec");
    // Two certificates for the same CA (same name, same key): the one tried first (it is valid
    // longer) is restricted to clientAuth, the other is not.
    let client_only = format!("{CA_EXT}extendedKeyUsage=clientAuth\n");
    let narrow = lab.make("Issuing-narrow", "/CN=Issuing", &client_only, Some(&root), 3650, Some(&key));
    let wide = lab.make("Issuing-wide", "/CN=Issuing", CA_EXT, Some(&root), 1000, Some(&key));
    let issuing = Made { cert: wide.cert.clone(), key: key.clone() };
    let leaf = lab.leaf("www.example.test", "DNS:www.example.test", &issuing);
    let case = Case::new(&lab, &leaf, &[&narrow, &wide], &[&root]);
    // OpenSSL builds one chain and does not try the other certificate of the same CA.
    let report = case.expect(true, Some(false), None);
    let abandoned = report["abandoned"].as_array().unwrap();
    assert!(
        abandoned
            .iter()
            .any(|a| a["layer"] == "usage" && a["reason"].as_str().unwrap().contains("clientAuth")),
        "{report}"
    );
    let chain_layer = &report["layers"][1];
    assert!(chain_layer["notes"].to_string().contains("tried"), "{report}");
}

#[test]
fn path_building_backs_out_of_an_expired_cross_sign() {
    let lab = Lab::new();
    let old_root = lab.root("Old Root");
    let new_root = lab.root("New Root");
    let key = lab.key("Issuing", "ec");
    let via_old = lab.make("Issuing-old", "/CN=Issuing", CA_EXT, Some(&old_root), 1, Some(&key));
    let via_new = lab.make("Issuing-new", "/CN=Issuing", CA_EXT, Some(&new_root), 3650, Some(&key));
    let issuing = Made { cert: via_new.cert.clone(), key: key.clone() };
    let leaf = lab.leaf("www.example.test", "DNS:www.example.test", &issuing);
    let mut case = Case::new(&lab, &leaf, &[&via_old, &via_new], &[&old_root, &new_root]);
    case.at = now() + 5 * 86_400;
    let report = case.expect(true, None, None);
    assert_eq!(report["path"][2], "CN=New Root", "{report}");
    // Only the expired path: refused at validity, naming it.
    case.chain = vec![&via_old];
    let report = case.expect(false, None, None);
    assert!(failed_layer(&report).starts_with("validity"), "{report}");
}

#[test]
fn loops_and_meshes_end_quickly_with_a_refusal() {
    let lab = Lab::new();
    // Two CAs that certify each other, neither trusted.
    let ka = lab.key("A", "ec");
    let kb = lab.key("B", "ec");
    let a_self = lab.make("A-self", "/CN=A", ROOT_EXT, None, 3650, Some(&ka));
    let b_self = lab.make("B-self", "/CN=B", ROOT_EXT, None, 3650, Some(&kb));
    let a_by_b = lab.make("A-by-B", "/CN=A", CA_EXT, Some(&b_self), 3650, Some(&ka));
    let b_by_a = lab.make("B-by-A", "/CN=B", CA_EXT, Some(&a_self), 3650, Some(&kb));
    let a = Made { cert: a_by_b.cert.clone(), key: ka.clone() };
    let leaf = lab.leaf("loop.example.test", "DNS:loop.example.test", &a);
    let stranger = lab.root("Stranger");
    let case = Case::new(&lab, &leaf, &[&a_by_b, &b_by_a], &[&stranger]);
    let report = case.expect(false, None, None);
    assert!(failed_layer(&report).starts_with("chain"), "{report}");
    // A mesh: five layers of four CAs with the same names and no key identifiers, so that every
    // certificate of a layer is a candidate issuer of every certificate below it.
    let plain_ca = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n";
    let mut layers: Vec<Vec<Made>> = Vec::new();
    let top = lab.make(
        "Mesh-top",
        "/CN=Mesh 0",
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\nsubjectKeyIdentifier=hash\n",
        None,
        3650,
        None,
    );
    layers.push(vec![top]);
    for depth in 1..5 {
        let issuer = layers[depth - 1][0].clone();
        let layer = (0..4)
            .map(|i| {
                lab.make(
                    &format!("Mesh-{depth}-{i}"),
                    &format!("/CN=Mesh {depth}"),
                    plain_ca,
                    Some(&issuer),
                    3650,
                    None,
                )
            })
            .collect();
        layers.push(layer);
    }
    let bottom = layers[4][0].clone();
    let leaf = lab.make(
        "mesh-leaf",
        "/CN=mesh.example.test",
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:mesh.example.test\n",
        Some(&bottom),
        365,
        None,
    );
    let chain: Vec<&Made> = layers[1..].iter().flatten().collect();
    let case = Case::new(&lab, &leaf, &chain, &[&stranger]);
    let (verdict, report) = case.pkictl();
    assert!(!verdict, "{report}");
    assert!(report["signature_checks"].as_u64().unwrap() <= 100, "{report}");
}

// ---------------------------------------------------------------------------------------------
// basicConstraints, keyUsage, extKeyUsage, versions, keys, extensions

#[test]
fn issuers_must_be_v3_cas_with_key_cert_sign_within_their_path_length() {
    let lab = Lab::new();
    let root = lab.root("Root");
    // Not a CA.
    let not_ca = lab.make("NotCA", "/CN=NotCA", "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n", Some(&root), 3650, None);
    let leaf = lab.leaf("a.example.test", "DNS:a.example.test", &not_ca);
    let report = Case::new(&lab, &leaf, &[&not_ca], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("NotCA"), "{report}");
    // A CA whose keyUsage lacks keyCertSign.
    let no_sign = lab.make("NoSign", "/CN=NoSign", "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n", Some(&root), 3650, None);
    let leaf = lab.leaf("b.example.test", "DNS:b.example.test", &no_sign);
    // webpki ignores keyUsage by design; RFC 5280 6.1.4 (n) requires keyCertSign.
    let report = Case::new(&lab, &leaf, &[&no_sign], &[&root]).expect(false, None, Some(true));
    assert!(report.to_string().contains("keyCertSign"), "{report}");
    // A version 1 intermediate (no extensions at all): RFC 5280 6.1.4 (k).
    let v1 = lab.make("V1", "/CN=V1", "", Some(&root), 3650, None);
    let ext = leaf_ext("DNS:c.example.test")
        .replace("authorityKeyIdentifier=keyid", "authorityKeyIdentifier=issuer");
    let leaf = lab.make("c.example.test", "/CN=c.example.test", &ext, Some(&v1), 365, None);
    let report = Case::new(&lab, &leaf, &[&v1], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("version 1"), "{report}");
    // pathLenConstraint 0 with another CA below.
    let zero = lab.make(
        "Zero",
        "/CN=Zero",
        &CA_EXT.replace("CA:TRUE", "CA:TRUE,pathlen:0"),
        Some(&root),
        3650,
        None,
    );
    let below = lab.ca("Below", &zero);
    let leaf = lab.leaf("d.example.test", "DNS:d.example.test", &below);
    let report = Case::new(&lab, &leaf, &[&below, &zero], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("pathLenConstraint"), "{report}");
    let leaf = lab.leaf("e.example.test", "DNS:e.example.test", &zero);
    Case::new(&lab, &leaf, &[&zero], &[&root]).expect(true, None, None);
}

#[test]
fn a_ca_whose_extended_key_usage_lacks_the_purpose_breaks_the_path() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let clients = lab.make(
        "Clients",
        "/CN=Clients",
        &format!("{CA_EXT}extendedKeyUsage=clientAuth\n"),
        Some(&root),
        3650,
        None,
    );
    let leaf = lab.leaf("svc.example.test", "DNS:svc.example.test", &clients);
    let mut case = Case::new(&lab, &leaf, &[&clients], &[&root]);
    let report = case.expect(false, None, None);
    assert!(failed_layer(&report).starts_with("usage"), "{report}");
    case.purpose = "client";
    case.expect(true, None, None);
    // anyExtendedKeyUsage on a CA allows every purpose (RFC 5280 4.2.1.12); OpenSSL's purpose
    // check does not take it for sslserver, webpki does not know it.
    let any = lab.make(
        "Any",
        "/CN=Any",
        &format!("{CA_EXT}extendedKeyUsage=anyExtendedKeyUsage\n"),
        Some(&root),
        3650,
        None,
    );
    let leaf = lab.leaf("any.example.test", "DNS:any.example.test", &any);
    Case::new(&lab, &leaf, &[&any], &[&root]).expect(true, Some(false), Some(false));
    // An end entity must name the purpose itself: anyExtendedKeyUsage alone is not serverAuth
    // (CA/Browser Forum BR 7.1.2.7.10; RFC 5280 4.2.1.12 lets applications refuse it).
    let ext = leaf_ext("DNS:x.example.test").replace("serverAuth,clientAuth", "anyExtendedKeyUsage");
    let leaf = lab.make("x", "/CN=x", &ext, Some(&root), 365, None);
    Case::new(&lab, &leaf, &[], &[&root]).expect(false, None, None);
}

#[test]
fn weak_keys_unknown_critical_and_duplicate_extensions_are_refused_with_a_reason() {
    let lab = Lab::new();
    let root = lab.root("Root");
    // RSA-1024 end entity. OpenSSL's default security level 1 still takes 1024 bits, and
    // webpki never looks at the end entity's own key; pkictl follows NIST SP 800-131A.
    let weak = lab.key("weak", "rsa1024");
    let leaf =
        lab.make_with("weak", "/CN=weak", &leaf_ext("DNS:weak.example.test"), Some(&root), 365, &weak, &[]);
    let report = Case::new(&lab, &leaf, &[], &[&root]).expect(false, Some(true), Some(true));
    assert!(report.to_string().contains("RSA-1024"), "{report}");
    // An RSA-1024 intermediate: no one should check signatures with it.
    let weak_ca_key = lab.key("weak-ca", "rsa1024");
    let weak_ca = lab.make_with("WeakCA", "/CN=WeakCA", CA_EXT, Some(&root), 3650, &weak_ca_key, &[]);
    let leaf = lab.leaf("w.example.test", "DNS:w.example.test", &weak_ca);
    Case::new(&lab, &leaf, &[&weak_ca], &[&root]).expect(false, Some(true), None);
    // An unknown critical extension (RFC 5280 4.2).
    let ext = format!("{}1.3.6.1.4.1.99999.1=critical,DER:05:00\n", leaf_ext("DNS:u.example.test"));
    let leaf = lab.make("u", "/CN=u", &ext, Some(&root), 365, None);
    let report = Case::new(&lab, &leaf, &[], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("critical extension"), "{report}");
    // The same extension twice (RFC 5280 4.2): openssl will not write that, so a placeholder
    // extension is renamed subjectAltName and the certificate signed again.
    let ext = format!(
        "{}2.5.29.99=DER:30:0d:82:0b:65:78:61:6d:70:6c:65:2e:63:6f:6d\n",
        leaf_ext("DNS:d.example.test")
    );
    let placeholder = lab.make("d-placeholder", "/CN=d", &ext, Some(&root), 365, None);
    let leaf = resign_with_duplicate_san(&lab, &placeholder, &root);
    let report = Case::new(&lab, &leaf, &[], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("twice"), "{report}");
    // No authorityKeyIdentifier (RFC 5280 4.2.1.1; OpenSSL -x509_strict agrees, webpki does
    // not look).
    let ext = leaf_ext("DNS:n.example.test")
        .replace("authorityKeyIdentifier=keyid\n", "authorityKeyIdentifier=none\n");
    let leaf = lab.make("n", "/CN=n", &ext, Some(&root), 365, None);
    Case::new(&lab, &leaf, &[], &[&root]).expect(false, None, Some(true));
    // A CA certificate as the end entity of a TLS connection.
    let ca_leaf = lab.make(
        "caleaf",
        "/CN=caleaf",
        &format!("{CA_EXT}subjectAltName=DNS:ca.example.test\n"),
        Some(&root),
        365,
        None,
    );
    Case::new(&lab, &ca_leaf, &[], &[&root]).expect(false, None, None);
}

// ---------------------------------------------------------------------------------------------
// Name constraints (RFC 5280 4.2.1.10)

fn constrained(lab: &Lab, root: &Made, name: &str, nc: &str) -> Made {
    lab.make(
        name,
        &format!("/O=Partner/CN={name}"),
        &format!("{CA_EXT}nameConstraints=critical,{nc}\n"),
        Some(root),
        3650,
        None,
    )
}

#[test]
fn dns_name_constraints_with_wildcards_and_exclusions() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let ca = constrained(&lab, &root, "DNS CA", "permitted;DNS:example.com,excluded;DNS:bad.example.com");
    for (i, (san, accepted, openssl_says)) in [
        ("DNS:example.com", true, None),
        ("DNS:api.example.com", true, None),
        ("DNS:api.example.com,DNS:www.example.com", true, None),
        ("DNS:api.example.org", false, None),
        ("DNS:badexample.com", false, None),
        ("DNS:bad.example.com", false, None),
        ("DNS:x.bad.example.com", false, None),
        ("DNS:api.example.com,DNS:evil.test", false, None),
        // "*.example.com" also stands for bad.example.com: a wildcard lies in an excluded
        // subtree if any name it covers does (RFC 5280 4.2.1.10 "any name matching a
        // restriction in the excludedSubtrees field is invalid"). OpenSSL compares the
        // wildcard as a literal label.
        ("DNS:*.example.com", false, Some(true)), // webpki agrees with pkictl
        ("DNS:*.api.example.com", true, None),
    ]
    .into_iter()
    .enumerate()
    {
        let leaf = lab.make(&format!("dns{i}"), "/CN=leaf", &leaf_ext(san), Some(&ca), 365, None);
        let report = Case::new(&lab, &leaf, &[&ca], &[&root]).expect(accepted, openssl_says, None);
        if !accepted {
            assert!(failed_layer(&report).starts_with("constraints"), "{san}: {report}");
        }
    }
}

#[test]
fn the_common_name_is_constrained_only_without_a_san_and_only_to_refuse() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let ca = constrained(&lab, &root, "CN CA", "permitted;DNS:example.com");
    let ext = "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n";
    let outside = lab.make("cn-outside", "/CN=www.evil.test", ext, Some(&ca), 365, None);
    // webpki ignores the CN here.
    Case::new(&lab, &outside, &[&ca], &[&root]).expect(false, None, Some(true));
    // A CN that is no host name is not a DNS name.
    let person = lab.make("cn-person", "/CN=Jane Doe", ext, Some(&ca), 365, None);
    Case::new(&lab, &person, &[&ca], &[&root]).expect(true, None, None);
    // With a SAN, the CN is not a name of the certificate at all.
    let with_san =
        lab.make("cn-with-san", "/CN=www.evil.test", &leaf_ext("DNS:www.example.com"), Some(&ca), 365, None);
    Case::new(&lab, &with_san, &[&ca], &[&root]).expect(true, None, None);
    // And the CN never makes a host match.
    let inside = lab.make("cn-inside", "/CN=www.example.com", ext, Some(&ca), 365, None);
    let mut case = Case::new(&lab, &inside, &[&ca], &[&root]);
    case.host = Some("www.example.com");
    // OpenSSL falls back to the CN for the host when there is no DNS SAN (RFC 6125 6.4.4 is
    // obsolete for TLS; RFC 9525 6.3 forbids it).
    case.expect(false, Some(true), None);
}

#[test]
fn ip_name_constraints_for_ipv4_and_ipv6() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let ca = constrained(
        &lab,
        &root,
        "IP CA",
        "permitted;IP:10.0.0.0/255.0.0.0,permitted;IP:fd00::/ffff::,excluded;IP:10.9.0.0/255.255.0.0",
    );
    for (i, (san, accepted)) in [
        ("IP:10.1.2.3", true),
        ("IP:10.9.1.1", false),
        ("IP:192.168.1.1", false),
        ("IP:fd00::1", true),
        ("IP:fe80::1", false),
        ("IP:10.1.2.3,DNS:anything.test", true),
    ]
    .into_iter()
    .enumerate()
    {
        let leaf = lab.make(&format!("ip{i}"), "/CN=leaf", &leaf_ext(san), Some(&ca), 365, None);
        Case::new(&lab, &leaf, &[&ca], &[&root]).expect(accepted, None, None);
    }
    let leaf = lab.make("ip-host", "/CN=leaf", &leaf_ext("IP:10.1.2.3"), Some(&ca), 365, None);
    let mut case = Case::new(&lab, &leaf, &[&ca], &[&root]);
    case.host = Some("10.1.2.3");
    case.expect(true, None, None);
    case.host = Some("10.1.2.4");
    case.expect(false, None, None);
}

#[test]
fn email_uri_and_directory_name_constraints() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let mail = constrained(
        &lab,
        &root,
        "Mail CA",
        "permitted;email:example.com,permitted;email:.example.org,excluded;email:boss@example.com",
    );
    for (i, (san, accepted)) in [
        ("email:alice@example.com", true),
        ("email:alice@sub.example.com", false),
        ("email:alice@sub.example.org", true),
        ("email:alice@example.org", false),
        ("email:boss@example.com", false),
    ]
    .into_iter()
    .enumerate()
    {
        let ext = leaf_ext(san).replace("serverAuth,clientAuth", "clientAuth");
        let leaf = lab.make(&format!("mail{i}"), "/CN=person", &ext, Some(&mail), 365, None);
        let mut case = Case::new(&lab, &leaf, &[&mail], &[&root]);
        case.purpose = "client";
        // webpki does not implement rfc822Name constraints and refuses every name under them.
        case.expect(accepted, None, Some(false));
    }
    // URI constraints name hosts; webpki does not support the form and refuses them all.
    let uri = constrained(&lab, &root, "URI CA", "permitted;URI:.example.com");
    for (i, (san, accepted)) in [
        ("URI:https://api.example.com/x", true),
        ("URI:spiffe://svc.example.com/ns/a", true),
        ("URI:https://example.com/", false),
        ("URI:https://api.example.net/", false),
    ]
    .into_iter()
    .enumerate()
    {
        let leaf = lab.make(&format!("uri{i}"), "/CN=svc", &leaf_ext(san), Some(&uri), 365, None);
        let mut case = Case::new(&lab, &leaf, &[&uri], &[&root]);
        case.purpose = "client";
        case.expect(accepted, None, Some(false));
    }
    // directoryName: the subject must start with the permitted RDNs.
    let dir_ext =
        format!("{CA_EXT}nameConstraints=critical,permitted;dirName:dir_sect\n[dir_sect]\nO=Partner\n");
    let dir = lab.make("DirCA", "/O=Partner/CN=DirCA", &dir_ext, Some(&root), 3650, None);
    for (i, (subject, accepted)) in
        [("/O=Partner/CN=inside", true), ("/O=Other/CN=outside", false)].into_iter().enumerate()
    {
        let leaf =
            lab.make(&format!("dir{i}"), subject, &leaf_ext("DNS:x.example.test"), Some(&dir), 365, None);
        // webpki does not implement directoryName constraints and refuses every subject under them.
        Case::new(&lab, &leaf, &[&dir], &[&root]).expect(accepted, None, Some(false));
    }
}

#[test]
fn constraints_of_every_ca_on_the_path_apply_below_it() {
    let lab = Lab::new();
    let root_ext = format!("{ROOT_EXT}nameConstraints=critical,permitted;DNS:example.com\n");
    let root = lab.make("Constrained Root", "/CN=Constrained Root", &root_ext, None, 3650, None);
    let inter = lab.ca("Wide Issuing", &root);
    let inside = lab.leaf("in", "DNS:in.example.com", &inter);
    Case::new(&lab, &inside, &[&inter], &[&root]).expect(true, None, None);
    let outside = lab.leaf("out", "DNS:out.example.net", &inter);
    let report = Case::new(&lab, &outside, &[&inter], &[&root]).expect(false, None, None);
    assert!(report.to_string().contains("Constrained Root"), "{report}");
}

// ---------------------------------------------------------------------------------------------
// CRLs

struct CrlCa {
    dir: PathBuf,
    ca: Made,
}

impl CrlCa {
    fn new(lab: &Lab, ca: &Made, with_aki: bool) -> CrlCa {
        let dir = lab.path(&format!("ca-db-{}", ca.cert.file_stem().unwrap().to_str().unwrap()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("index.txt"), "").unwrap();
        fs::write(dir.join("crlnumber"), "01\n").unwrap();
        let config = format!(
            "[ca]\ndefault_ca=d\n[d]\ndatabase={}/index.txt\ncrlnumber={}/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\ncertificate={}\nprivate_key={}\n{}",
            dir.display(),
            dir.display(),
            ca.cert.display(),
            ca.key.display(),
            if with_aki { "crl_extensions=crl_ext\n[crl_ext]\nauthorityKeyIdentifier=keyid\n" } else { "" }
        );
        fs::write(dir.join("ca.cnf"), config).unwrap();
        CrlCa { dir, ca: ca.clone() }
    }

    fn revoke(&self, lab: &Lab, cert: &Made) {
        let cnf = self.dir.join("ca.cnf");
        lab.run(&[
            "ca",
            "-config",
            cnf.to_str().unwrap(),
            "-revoke",
            cert.cert.to_str().unwrap(),
            "-crl_reason",
            "keyCompromise",
        ]);
    }

    fn crl(&self, lab: &Lab, name: &str) -> PathBuf {
        let cnf = self.dir.join("ca.cnf");
        let out = lab.path(name);
        lab.run(&["ca", "-config", cnf.to_str().unwrap(), "-gencrl", "-out", out.to_str().unwrap()]);
        let _ = &self.ca;
        out
    }
}

#[test]
fn crls_are_checked_for_signature_issuer_and_dates() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let inter = lab.ca("Issuing", &root);
    let good = lab.leaf("good", "DNS:good.example.test", &inter);
    let bad = lab.leaf("bad", "DNS:bad.example.test", &inter);
    let db = CrlCa::new(&lab, &inter, true);
    let empty = db.crl(&lab, "empty.crl");
    db.revoke(&lab, &bad);
    let crl = db.crl(&lab, "issuing.crl");
    // No CRL at all: revocation is not checked, which is no refusal.
    let report = Case::new(&lab, &bad, &[&inter], &[&root]).expect(true, None, None);
    let last = report["layers"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["layer"].as_str(), last["status"].as_str()),
        (Some("revocation"), Some("skipped")),
        "{report}"
    );
    let mut case = Case::new(&lab, &good, &[&inter], &[&root]);
    case.crls = vec![crl.clone()];
    case.expect(true, None, None);
    case.leaf = &bad;
    let report = case.expect(false, None, None);
    assert!(
        failed_layer(&report).starts_with("revocation") && report.to_string().contains("keyCompromise"),
        "{report}"
    );
    // The newest CRL wins when both are given.
    // (OpenSSL takes the first CRL of that issuer it was given.)
    case.crls = vec![empty.clone(), crl.clone()];
    case.expect(false, Some(true), None);
    // A CRL past its nextUpdate is unusable (and OpenSSL says "CRL has expired").
    case.leaf = &good;
    case.at = now() + 30 * 86_400;
    case.crls = vec![crl.clone()];
    let report = case.expect(false, None, None);
    assert!(report.to_string().contains("expired"), "{report}");
    // A CRL with the issuer's name but signed by another key.
    case.at = now() + SOON;
    let impostor = lab.make("Impostor", "/CN=Issuing", CA_EXT, None, 3650, None);
    let forged = CrlCa::new(&lab, &impostor, false).crl(&lab, "forged.crl");
    case.crls = vec![forged];
    let report = case.expect(false, None, None);
    assert!(report.to_string().contains("signature"), "{report}");
    // A DER CRL works as well as PEM.
    let der = lab.path("issuing.crl.der");
    lab.run(&["crl", "-in", crl.to_str().unwrap(), "-outform", "DER", "-out", der.to_str().unwrap()]);
    let mut case = Case::new(&lab, &bad, &[&inter], &[&root]);
    case.crls = vec![der];
    case.expect(false, None, None);
}

#[test]
fn the_text_report_names_the_path_and_each_abandoned_candidate() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let key = lab.key("Issuing", "ec");
    let narrow = lab.make(
        "Issuing-narrow",
        "/CN=Issuing",
        &format!("{CA_EXT}extendedKeyUsage=clientAuth\n"),
        Some(&root),
        3650,
        Some(&key),
    );
    let wide = lab.make("Issuing-wide", "/CN=Issuing", CA_EXT, Some(&root), 1000, Some(&key));
    let leaf = lab.leaf(
        "www.example.test",
        "DNS:www.example.test",
        &Made { cert: wide.cert.clone(), key: key.clone() },
    );
    let roots = lab.bundle("roots.pem", &[&root]);
    let chain = lab.bundle("chain.pem", &[&narrow, &wide]);
    let out = Command::new(env!("CARGO_BIN_EXE_pkictl"))
        .arg("--home")
        .arg(lab.path("nowhere"))
        .arg("verify")
        .arg(&leaf.cert)
        .arg("--trust")
        .arg(&roots)
        .arg("--chain")
        .arg(&chain)
        .args(["--purpose", "server"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("CN=www.example.test -> CN=Issuing -> CN=Root"), "{text}");
    assert!(
        text.contains("note: tried CN=www.example.test -> CN=Issuing -> CN=Root:")
            && text.contains("clientAuth"),
        "{text}"
    );
    assert!(text.contains("revocation   skipped  not checked"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Hostile input

/// Every single-byte corruption of a chain's certificates (at a spread of positions) gets a
/// verdict or a bad-input refusal, never a crash or a hang.
#[test]
fn corrupted_certificates_never_crash_the_verifier() {
    let lab = Lab::new();
    let root = lab.make("Root", "/CN=Root", &format!("{ROOT_EXT}nameConstraints=critical,permitted;DNS:example.test,permitted;IP:10.0.0.0/255.0.0.0,excluded;email:.example.test\n"), None, 3650, None);
    let inter = lab.ca("Issuing", &root);
    let leaf = lab.leaf(
        "www.example.test",
        "DNS:www.example.test,IP:10.1.2.3,email:a@example.test,URI:https://www.example.test/",
        &inter,
    );
    let roots = lab.bundle("roots.pem", &[&root]);
    let originals = [pem_der(&leaf.cert), pem_der(&inter.cert), pem_der(&root.cert)];
    let mut runs = 0;
    for (which, original) in originals.iter().enumerate() {
        for position in (0..original.len()).step_by(7) {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut der = original.clone();
                der[position] ^= flip;
                let file = lab.path("mutant.der");
                fs::write(&file, &der).unwrap();
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_pkictl"));
                cmd.arg("--home").arg(lab.path("nowhere")).arg("verify");
                match which {
                    0 => cmd.arg(&file).arg("--chain").arg(&inter.cert).arg("--trust").arg(&roots),
                    1 => cmd.arg(&leaf.cert).arg("--chain").arg(&file).arg("--trust").arg(&roots),
                    _ => cmd.arg(&leaf.cert).arg("--chain").arg(&inter.cert).arg("--trust").arg(&file),
                };
                cmd.args(["--purpose", "server", "--host", "www.example.test"]);
                let out = cmd.output().unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                let code = out.status.code();
                assert!(
                    matches!(code, Some(0..=2)) && !stderr.contains("panicked"),
                    "certificate #{which}, byte {position} ^ {flip:#x}: exit {code:?}: {stderr}"
                );
                runs += 1;
            }
        }
    }
    assert!(runs > 300, "{runs}");
}

#[test]
fn rsa_pkcs1_and_pss_signatures_verify_and_sha1_is_refused() {
    let lab = Lab::new();
    let rsa = lab.key("rsa-root", "rsa2048");
    let root = lab.make_with("RSA Root", "/CN=RSA Root", ROOT_EXT, None, 3650, &rsa, &[]);
    let leaf_key = lab.key("leaf", "ec");
    let pkcs1 = lab.make_with(
        "pkcs1",
        "/CN=pkcs1",
        &leaf_ext("DNS:pkcs1.example.test"),
        Some(&root),
        365,
        &leaf_key,
        &[],
    );
    Case::new(&lab, &pkcs1, &[], &[&root]).expect(true, None, None);
    let pss_args = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"];
    let pss = lab.make_with(
        "pss",
        "/CN=pss",
        &leaf_ext("DNS:pss.example.test"),
        Some(&root),
        365,
        &leaf_key,
        &pss_args,
    );
    Case::new(&lab, &pss, &[], &[&root]).expect(true, None, None);
    // SHA-1 (RFC 9155; refused by webpki; OpenSSL's default security level 1 still takes it).
    let sha1 = lab.make_with(
        "sha1",
        "/CN=sha1",
        &leaf_ext("DNS:sha1.example.test"),
        Some(&root),
        365,
        &leaf_key,
        &["-sha1"],
    );
    let report = Case::new(&lab, &sha1, &[], &[&root]).expect(false, Some(true), None);
    assert!(report.to_string().contains("SHA-1"), "{report}");
}

/// With --trust, the home is not opened at all: a broken one in the way changes nothing.
#[test]
fn trust_ignores_whatever_home_is_there() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let leaf = lab.leaf("www.example.test", "DNS:www.example.test", &root);
    let home = lab.path("broken-home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("ledger.db"), b"this is not a SQLite database").unwrap();
    let roots = lab.bundle("roots.pem", &[&root]);
    let out = Command::new(env!("CARGO_BIN_EXE_pkictl"))
        .arg("--home")
        .arg(&home)
        .arg("verify")
        .arg(&leaf.cert)
        .arg("--trust")
        .arg(&roots)
        .args(["--purpose", "server", "--host", "www.example.test"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(home.join("ledger.db")).unwrap(), b"this is not a SQLite database");
    assert_eq!(fs::read_dir(&home).unwrap().count(), 1, "verify wrote into the home");
}

/// RFC 5280 6.1.3 (d)-(f) and 6.1.5: a CA that requires an explicit policy. OpenSSL processes
/// policies only with -policy_check, so it accepts every case; webpki refuses the critical
/// policyConstraints extension it does not implement, so it refuses every case.
#[test]
fn a_ca_that_requires_an_explicit_policy_needs_one_valid_for_the_whole_path() {
    let lab = Lab::new();
    let root = lab.root("Root");
    let strict = format!(
        "{CA_EXT}certificatePolicies=1.2.3.4,1.2.3.6\npolicyConstraints=critical,requireExplicitPolicy:0\n"
    );
    let ca = lab.make("Policy CA", "/CN=Policy CA", &strict, Some(&root), 3650, None);
    let with = |name: &str, policies: &str| {
        let ext = format!("{}{policies}", leaf_ext(&format!("DNS:{name}.example.test")));
        lab.make(name, &format!("/CN={name}"), &ext, Some(&ca), 365, None)
    };
    let good = with("good", "certificatePolicies=1.2.3.4\n");
    Case::new(&lab, &good, &[&ca], &[&root]).expect(true, None, Some(false));
    let none = with("none", "");
    let report = Case::new(&lab, &none, &[&ca], &[&root]).expect(false, Some(true), None);
    assert!(report.to_string().contains("explicit policy"), "{report}");
    let other = with("other", "certificatePolicies=1.2.3.5\n");
    Case::new(&lab, &other, &[&ca], &[&root]).expect(false, Some(true), None);
    // An intermediate asserting anyPolicy lets every policy of the leaf through.
    let any = format!(
        "{CA_EXT}certificatePolicies=2.5.29.32.0\npolicyConstraints=critical,requireExplicitPolicy:0\n"
    );
    let any_ca = lab.make("Any CA", "/CN=Any CA", &any, Some(&root), 3650, None);
    let leaf = lab.make(
        "anyleaf",
        "/CN=anyleaf",
        &format!("{}certificatePolicies=1.2.3.9\n", leaf_ext("DNS:any.example.test")),
        Some(&any_ca),
        365,
        None,
    );
    Case::new(&lab, &leaf, &[&any_ca], &[&root]).expect(true, None, Some(false));
    // A mapping from a CA's policy to the leaf's, unless a CA above inhibits mappings (a CA's
    // own inhibitPolicyMapping only applies below it, RFC 5280 6.1.4 (b) before (i)).
    for (name, inhibit, accepted) in [("Top", "", true), ("Inhibiting Top", ",inhibitPolicyMapping:0", false)]
    {
        let ext = format!(
            "{CA_EXT}certificatePolicies=2.5.29.32.0\npolicyConstraints=critical,requireExplicitPolicy:0{inhibit}\n"
        );
        let top = lab.make(name, &format!("/CN={name}"), &ext, Some(&root), 3650, None);
        let ext = format!("{CA_EXT}certificatePolicies=1.2.3.4\npolicyMappings=critical,1.2.3.4:1.2.3.7\n");
        let mapper =
            lab.make(&format!("{name} Mapper"), &format!("/CN={name} Mapper"), &ext, Some(&top), 3650, None);
        let ext = format!("{}certificatePolicies=1.2.3.7\n", leaf_ext("DNS:mapped.example.test"));
        let leaf =
            lab.make(&format!("mapped{}", accepted as u8), "/CN=mapped", &ext, Some(&mapper), 365, None);
        Case::new(&lab, &leaf, &[&mapper, &top], &[&root]).expect(accepted, Some(true), Some(false));
    }
    // Without requireExplicitPolicy, policies never refuse a path.
    let lax = lab.ca("Lax CA", &root);
    let leaf = lab.make("lax", "/CN=lax", &leaf_ext("DNS:lax.example.test"), Some(&lax), 365, None);
    Case::new(&lab, &leaf, &[&lax], &[&root]).expect(true, None, None);
}
