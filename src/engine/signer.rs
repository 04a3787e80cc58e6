//! rcgen signs through its own `SigningKey` trait; this adapter lends it a [`CaSigner`].

use crate::keys::{CaSigner, PublicKey};

/// A [`CaSigner`] seen through rcgen's traits.
pub(crate) struct RcgenSigner<'a> {
    signer: &'a dyn CaSigner,
    public: &'a PublicKey,
}

impl<'a> RcgenSigner<'a> {
    pub(crate) fn new(signer: &'a dyn CaSigner) -> RcgenSigner<'a> {
        RcgenSigner { signer, public: signer.public_key() }
    }
}

impl rcgen::PublicKeyData for RcgenSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.public.bits()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        crate::keys::signature_algorithm(self.signer.key_type())
    }
}

impl rcgen::SigningKey for RcgenSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signer.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}
