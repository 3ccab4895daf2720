//! The operating system's random number generator. (The seeded generator
//! of the tests is `e4_testkit::TestRng`, outside the production crates.)

#[cfg(feature = "std")]
use e4_proto::crypto::Rng;

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
