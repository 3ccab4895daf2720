//! The deterministic generator of the tests, benchmarks, fuzz targets and
//! `e4-vectors generate` (moved here from `e4_backends::rng`, which keeps
//! only the operating system's generator).

use e4_proto::crypto::Rng;
use sha3::digest::{ExtendableOutput, Update, XofReader};

/// A deterministic generator: `SHAKE-256("e4 test rng" | seed)`.
///
/// NOT FOR PRODUCTION: its output is a function of the seed. Providers that
/// take their randomness from the `&mut dyn Rng` argument (`rustcrypto`,
/// `libcrux`, and every provider for the symmetric and public-key suites)
/// give the same bytes from the same seed; `pqclean` reads the operating
/// system's generator for ML-KEM and ML-DSA whatever it is given.
pub struct TestRng {
    reader: sha3::Shake256Reader,
}

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

impl Rng for TestRng {
    fn fill(&mut self, dest: &mut [u8]) {
        self.reader.read(dest);
    }
}

impl core::fmt::Debug for TestRng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("TestRng")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_shake256_of_the_seed() {
        // The KAT files in vectors/kat/ depend on these bytes:
        // SHAKE-256("e4 test rng" | "seed"), read in any chunking.
        let want: [u8; 16] = [
            0x47, 0x0b, 0xa1, 0x2b, 0xaa, 0x2f, 0x4c, 0x0e, 0x99, 0xdd, 0xf8, 0x23, 0x88, 0x58,
            0x55, 0x47,
        ];
        let mut all = [0u8; 16];
        TestRng::from_seed(b"seed").fill(&mut all);
        assert_eq!(all, want);
        let mut r = TestRng::from_seed(b"seed");
        let (mut a, mut b) = ([0u8; 5], [0u8; 11]);
        r.fill(&mut a);
        r.fill(&mut b);
        assert_eq!(a, want[..5]);
        assert_eq!(b, want[5..]);
    }
}
