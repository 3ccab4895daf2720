//! Hybrid combiners, written once and generic over their two parts: a
//! composite signature (both must verify) and a KEM combiner (secure while
//! either KEM is), plus X25519 as a KEM so it can be one of the parts.
//!
//! * Signature: `sk = sk_a ‖ sk_b`, `pk = pk_a ‖ pk_b`, `sig = sig_a ‖ sig_b`;
//!   both parts sign `M' = label ‖ pk ‖ M`, as composite signatures do
//!   (draft-ietf-lamps-pq-composite-sigs): the label separates the hybrid
//!   use from either algorithm used alone, so a part cannot be stripped off
//!   and passed as a standalone signature, and binding the whole public key
//!   stops a part being combined with another key.
//! * KEM: `ct = ct_a ‖ ct_b`, and the shared secret is
//!   `SHA3-256(label ‖ ss_a ‖ ss_b ‖ ct_a ‖ ct_b ‖ pk_a ‖ pk_b)`, the
//!   "hash everything" combiner that is IND-CCA secure if either part is
//!   (the same shape as X-Wing and the TLS hybrid groups, which hash the
//!   classical share and key with both secrets).

use e4_proto::crypto::{Kem, PreparedVerifier, Rng, SignatureScheme, Signer, X25519};
use e4_proto::{Error, SymKey};
use sha3::{Digest, Sha3_256};
use zeroize::Zeroizing;

use alloc::boxed::Box;
use alloc::vec::Vec;

/// The label of the hybrid suite's composite signature.
pub const SIG_LABEL: &[u8] = b"e4 hybrid sig v1: Ed25519+ML-DSA-65";
/// The label of the hybrid suite's combined KEM.
pub const KEM_LABEL: &[u8] = b"e4 hybrid kem v1: ML-KEM-768+X25519";

/// A composite of two signature schemes.
pub struct CompositeSig {
    /// The classical part (e.g. Ed25519).
    pub a: &'static dyn SignatureScheme,
    /// The post-quantum part (e.g. ML-DSA-65).
    pub b: &'static dyn SignatureScheme,
    /// Domain-separation label.
    pub label: &'static [u8],
}

/// Fill `sk = sk_a ‖ sk_b ‖ pk` and `pk = pk_a ‖ pk_b` (lengths checked by
/// the caller; `lens` = [sk_a, sk_b, pk_a]) from the two halves' key
/// generation, `gen(false, ..)` for the first and `gen(true, ..)` for the
/// second, in that order (the order matters for seeded KATs).
fn generate_halves(
    sk: &mut [u8],
    pk: &mut [u8],
    lens: [usize; 3],
    mut gen: impl FnMut(bool, &mut [u8], &mut [u8]) -> Result<(), Error>,
) -> Result<(), Error> {
    let (ska, rest) = sk.split_at_mut(lens[0]);
    let (skb, skpk) = rest.split_at_mut(lens[1]);
    let (pka, pkb) = pk.split_at_mut(lens[2]);
    gen(false, ska, pka)?;
    gen(true, skb, pkb)?;
    skpk.copy_from_slice(pk);
    Ok(())
}

impl CompositeSig {
    fn message(&self, pk: &[u8], msg: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(self.label.len() + pk.len() + msg.len());
        m.extend_from_slice(self.label);
        m.extend_from_slice(pk);
        m.extend_from_slice(msg);
        m
    }
}

impl SignatureScheme for CompositeSig {
    fn public_key_len(&self) -> usize {
        self.a.public_key_len() + self.b.public_key_len()
    }
    fn secret_key_len(&self) -> usize {
        // The composite public key is kept inside the secret key: signing
        // needs it for M'.
        self.a.secret_key_len() + self.b.secret_key_len() + self.public_key_len()
    }
    fn signature_len(&self) -> usize {
        self.a.signature_len() + self.b.signature_len()
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != self.secret_key_len() || pk.len() != self.public_key_len() {
            return Err(Error::BufferTooSmall);
        }
        let lens = [
            self.a.secret_key_len(),
            self.b.secret_key_len(),
            self.a.public_key_len(),
        ];
        generate_halves(sk, pk, lens, |second, s, p| match second {
            false => self.a.generate(rng, s, p),
            true => self.b.generate(rng, s, p),
        })
    }
    fn sign(&self, sk: &[u8], msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        if sk.len() != self.secret_key_len() {
            return Err(Error::InvalidArgument);
        }
        if sig.len() != self.signature_len() {
            return Err(Error::BufferTooSmall);
        }
        let (ska, rest) = sk.split_at(self.a.secret_key_len());
        let (skb, pk) = rest.split_at(self.b.secret_key_len());
        let m = self.message(pk, msg);
        let (siga, sigb) = sig.split_at_mut(self.a.signature_len());
        self.a.sign(ska, &m, siga)?;
        self.b.sign(skb, &m, sigb)
    }
    fn verify(&self, pk: &[u8], msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        if pk.len() != self.public_key_len() || sig.len() != self.signature_len() {
            return Err(Error::InvalidSignature);
        }
        let m = self.message(pk, msg);
        let (pka, pkb) = pk.split_at(self.a.public_key_len());
        let (siga, sigb) = sig.split_at(self.a.signature_len());
        // Both always run, so timing does not tell which part failed.
        let ra = self.a.verify(pka, &m, siga);
        let rb = self.b.verify(pkb, &m, sigb);
        ra.and(rb).map_err(|_| Error::InvalidSignature)
    }
    fn prepare_signer(&self, sk: &[u8]) -> Option<Box<dyn Signer + Send + Sync>> {
        if sk.len() != self.secret_key_len() {
            return None;
        }
        let (ska, rest) = sk.split_at(self.a.secret_key_len());
        let (skb, pk) = rest.split_at(self.b.secret_key_len());
        Some(Box::new(CompositeSigner {
            sig: self.parts(),
            a: self.a.prepare_signer(ska)?,
            skb: e4_proto::keys::SecretBytes::from_slice(skb),
            pk: pk.to_vec(),
        }))
    }
    fn prepare_verifier(&self, pk: &[u8]) -> Option<Box<dyn PreparedVerifier>> {
        if pk.len() != self.public_key_len() {
            return None;
        }
        Some(Box::new(CompositeVerifier {
            sig: self.parts(),
            a: self.a.prepare_verifier(&pk[..self.a.public_key_len()])?,
            pk: pk.to_vec(),
        }))
    }
}

impl CompositeSig {
    fn parts(&self) -> CompositeSig {
        CompositeSig {
            a: self.a,
            b: self.b,
            label: self.label,
        }
    }
}

/// A composite signing key whose first part the backend prepared (the
/// second is kept as bytes: ML-DSA decodes its key cheaply).
struct CompositeSigner {
    sig: CompositeSig,
    a: Box<dyn Signer + Send + Sync>,
    skb: e4_proto::keys::SecretBytes,
    pk: Vec<u8>,
}

impl Signer for CompositeSigner {
    fn signature_len(&self) -> usize {
        self.sig.signature_len()
    }
    fn sign(&self, msg: &[u8], sig: &mut [u8]) -> Result<(), Error> {
        if sig.len() != self.sig.signature_len() {
            return Err(Error::BufferTooSmall);
        }
        let m = self.sig.message(&self.pk, msg);
        let (siga, sigb) = sig.split_at_mut(self.sig.a.signature_len());
        self.a.sign(&m, siga)?;
        self.sig.b.sign(self.skb.as_bytes(), &m, sigb)
    }
}

/// A composite public key whose first part the backend decoded.
struct CompositeVerifier {
    sig: CompositeSig,
    a: Box<dyn PreparedVerifier>,
    pk: Vec<u8>,
}

impl PreparedVerifier for CompositeVerifier {
    fn public_key(&self) -> &[u8] {
        &self.pk
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        if sig.len() != self.sig.signature_len() {
            return Err(Error::InvalidSignature);
        }
        let m = self.sig.message(&self.pk, msg);
        let (siga, sigb) = sig.split_at(self.sig.a.signature_len());
        let pkb = &self.pk[self.sig.a.public_key_len()..];
        // Both always run, as in CompositeSig::verify.
        let ra = self.a.verify(&m, siga);
        let rb = self.sig.b.verify(pkb, &m, sigb);
        ra.and(rb).map_err(|_| Error::InvalidSignature)
    }
}

/// X25519 as a KEM: the ciphertext is an ephemeral public key, the shared
/// secret the raw Diffie-Hellman output (hashed by the combiner).
pub struct X25519Kem(pub &'static dyn X25519);

impl Kem for X25519Kem {
    fn public_key_len(&self) -> usize {
        32
    }
    fn secret_key_len(&self) -> usize {
        32
    }
    fn ciphertext_len(&self) -> usize {
        32
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        let sk: &mut [u8; 32] = sk.try_into().map_err(|_| Error::BufferTooSmall)?;
        rng.fill(sk);
        pk.copy_from_slice(&self.0.public_key(sk));
        Ok(())
    }
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
        let pk: &[u8; 32] = pk.try_into().map_err(|_| Error::InvalidArgument)?;
        let mut eph = Zeroizing::new([0u8; 32]);
        rng.fill(&mut eph[..]);
        ct.copy_from_slice(&self.0.public_key(&eph));
        let ss = self.0.diffie_hellman(&eph, pk);
        if e4_proto::keys::is_all_zero(&ss) {
            return Err(Error::InvalidArgument);
        }
        Ok(SymKey::new(ss))
    }
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
        let sk: &[u8; 32] = sk.try_into().map_err(|_| Error::InvalidArgument)?;
        let ct: &[u8; 32] = ct.try_into().map_err(|_| Error::NotAuthentic)?;
        let ss = self.0.diffie_hellman(sk, ct);
        if e4_proto::keys::is_all_zero(&ss) {
            return Err(Error::NotAuthentic); // low-order point
        }
        Ok(SymKey::new(ss))
    }
}

/// A combination of two KEMs.
pub struct CombinedKem {
    /// The post-quantum part (e.g. ML-KEM-768).
    pub a: &'static dyn Kem,
    /// The classical part (e.g. X25519).
    pub b: &'static dyn Kem,
    /// Domain-separation label.
    pub label: &'static [u8],
}

impl CombinedKem {
    fn combine(&self, ssa: &SymKey, ssb: &SymKey, ct: &[u8], pk: &[u8]) -> SymKey {
        let mut h = Sha3_256::new();
        h.update(self.label);
        h.update(ssa.as_bytes());
        h.update(ssb.as_bytes());
        h.update(ct);
        h.update(pk);
        SymKey::new(h.finalize().into())
    }
}

impl Kem for CombinedKem {
    fn public_key_len(&self) -> usize {
        self.a.public_key_len() + self.b.public_key_len()
    }
    fn secret_key_len(&self) -> usize {
        // The public key is kept inside the secret key for the combiner.
        self.a.secret_key_len() + self.b.secret_key_len() + self.public_key_len()
    }
    fn ciphertext_len(&self) -> usize {
        self.a.ciphertext_len() + self.b.ciphertext_len()
    }
    fn generate(&self, rng: &mut dyn Rng, sk: &mut [u8], pk: &mut [u8]) -> Result<(), Error> {
        if sk.len() != self.secret_key_len() || pk.len() != self.public_key_len() {
            return Err(Error::BufferTooSmall);
        }
        let lens = [
            self.a.secret_key_len(),
            self.b.secret_key_len(),
            self.a.public_key_len(),
        ];
        generate_halves(sk, pk, lens, |second, s, p| match second {
            false => self.a.generate(rng, s, p),
            true => self.b.generate(rng, s, p),
        })
    }
    fn encapsulate(&self, rng: &mut dyn Rng, pk: &[u8], ct: &mut [u8]) -> Result<SymKey, Error> {
        if pk.len() != self.public_key_len() {
            return Err(Error::InvalidArgument);
        }
        if ct.len() != self.ciphertext_len() {
            return Err(Error::BufferTooSmall);
        }
        let (pka, pkb) = pk.split_at(self.a.public_key_len());
        let (cta, ctb) = ct.split_at_mut(self.a.ciphertext_len());
        let ssa = self.a.encapsulate(rng, pka, cta)?;
        let ssb = self.b.encapsulate(rng, pkb, ctb)?;
        Ok(self.combine(&ssa, &ssb, ct, pk))
    }
    fn decapsulate(&self, sk: &[u8], ct: &[u8]) -> Result<SymKey, Error> {
        if sk.len() != self.secret_key_len() {
            return Err(Error::InvalidArgument);
        }
        if ct.len() != self.ciphertext_len() {
            return Err(Error::NotAuthentic);
        }
        let (ska, rest) = sk.split_at(self.a.secret_key_len());
        let (skb, pk) = rest.split_at(self.b.secret_key_len());
        let (cta, ctb) = ct.split_at(self.a.ciphertext_len());
        let ssa = self.a.decapsulate(ska, cta)?;
        let ssb = self.b.decapsulate(skb, ctb)?;
        Ok(self.combine(&ssa, &ssb, ct, pk))
    }
}
