//! CPU pressure beside a test: mosquitto's refusals of C2 showed only on a
//! loaded machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Busy threads beside the test (the failure needed a loaded machine).
pub struct CpuPressure(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl CpuPressure {
    pub fn start(threads: usize) -> CpuPressure {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        CpuPressure(stop, handles)
    }
}

impl Drop for CpuPressure {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for h in self.1.drain(..) {
            let _ = h.join();
        }
    }
}
