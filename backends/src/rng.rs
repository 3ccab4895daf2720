//! Random number generators: the operating system's, and a deterministic
//! one for known-answer tests only.

use e4_proto::crypto::Rng;
#[cfg(feature = "rustcrypto-aes")]
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// The operating system's generator (getrandom).
#[cfg(feature = "std")]
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRng;

#[cfg(feature = "std")]
impl Rng for OsRng {
    fn fill(&mut self, dest: &mut [u8]) {
        getrandom::getrandom(dest).expect("the operating system's random generator failed");
    }
}

/// A deterministic generator (SHAKE-256 of a seed) for known-answer tests.
#[cfg(feature = "rustcrypto-aes")]
/// NOT FOR PRODUCTION: its output is a function of the seed. It is a
/// separate type injected explicitly, never a mode of [`OsRng`].
pub struct TestRng {
    reader: sha3::Shake256Reader,
}

#[cfg(feature = "rustcrypto-aes")]
impl TestRng {
    /// A generator whose output is `SHAKE-256("e4 test rng" | seed)`.
    pub fn from_seed(seed: &[u8]) -> TestRng {
        let mut h = sha3::Shake256::default();
        h.update(b"e4 test rng");
        h.update(seed);
        TestRng {
            reader: h.finalize_xof(),
        }
    }
}

#[cfg(feature = "rustcrypto-aes")]
impl Rng for TestRng {
    fn fill(&mut self, dest: &mut [u8]) {
        self.reader.read(dest);
    }
}

#[cfg(feature = "rustcrypto-aes")]
impl core::fmt::Debug for TestRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TestRng")
    }
}
