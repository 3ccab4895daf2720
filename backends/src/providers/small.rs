//! The `small` provider: the byte-oriented AES-SIV and SHA3-256 of
//! [`crate::small`], written for 8-bit cores (an ATmega2560 seals 64 bytes
//! in about 47 000 cycles). The symmetric suite only. **Constant time only
//! on cores without a data cache** (its AES S-box is a table indexed by
//! secret bytes): on hosts, use another provider.

use e4_proto::crypto::CryptoProvider;
use e4_proto::suite::Suite;

static SUITES: &[&Suite] = &[
    #[cfg(feature = "symmetric")]
    &crate::suites::SYMMETRIC,
];

/// The `small` provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "small",
    hash: &crate::small::SmallSha3,
    siv: &crate::small::SmallSiv,
    suites: SUITES,
};
