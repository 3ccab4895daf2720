//! The `provider × suite` test matrix: [`conformance!`](crate::conformance).
//!
//! Which pairs exist is decided by this crate's cargo features (passed
//! through to e4-backends): a provider's tests exist when its feature is
//! on, and a suite's when its feature is on and the provider offers it.
//! The `__if_*` macros below carry those `cfg`s, evaluated here, so that
//! a crate using `conformance!` needs no features of its own.

#[cfg(feature = "pqclean")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pqclean {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "pqclean"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pqclean {
    ($($t:tt)*) => {};
}

#[cfg(feature = "libcrux")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_libcrux {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "libcrux"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_libcrux {
    ($($t:tt)*) => {};
}

#[cfg(feature = "rustcrypto")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_rustcrypto {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "rustcrypto"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_rustcrypto {
    ($($t:tt)*) => {};
}

#[cfg(feature = "small")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_small {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "small"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_small {
    ($($t:tt)*) => {};
}

#[cfg(feature = "symmetric")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_symmetric {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "symmetric"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_symmetric {
    ($($t:tt)*) => {};
}

#[cfg(feature = "pubkey")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pubkey {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "pubkey"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pubkey {
    ($($t:tt)*) => {};
}

#[cfg(feature = "pq")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pq {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "pq"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pq {
    ($($t:tt)*) => {};
}

#[cfg(feature = "pq-round3")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pq_draft {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "pq-round3"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_pq_draft {
    ($($t:tt)*) => {};
}

#[cfg(feature = "hybrid")]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_hybrid {
    ($($t:tt)*) => { $($t)* };
}
#[cfg(not(feature = "hybrid"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __if_hybrid {
    ($($t:tt)*) => {};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __if_suite {
    (symmetric $($t:tt)*) => { $crate::__if_symmetric! { $($t)* } };
    (pubkey $($t:tt)*) => { $crate::__if_pubkey! { $($t)* } };
    (pq $($t:tt)*) => { $crate::__if_pq! { $($t)* } };
    (pq_draft $($t:tt)*) => { $crate::__if_pq_draft! { $($t)* } };
    (hybrid $($t:tt)*) => { $crate::__if_hybrid! { $($t)* } };
}

/// One provider's module of a [`conformance!`](crate::conformance) test:
/// one `#[test] fn <suite>()` per suite it offers.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_provider {
    (
        $prov:ident, $provider:path, [$($suite:ident $id:ident),* $(,)?],
        $p:ident, $s:ident, $body:expr
    ) => {
        pub mod $prov {
            #[allow(unused_imports)]
            use super::*;
            $(
                $crate::__if_suite! { $suite
                    #[test]
                    fn $suite() {
                        #[allow(unused_variables)]
                        let $p: &'static $crate::CryptoProvider = &$provider;
                        #[allow(unused_variables)]
                        let $s: $crate::SuiteId = $crate::SuiteId::$id;
                        $body
                    }
                }
            )*

            pub(super) fn generated(
                v: &mut ::std::vec::Vec<(&'static str, $crate::SuiteId)>,
            ) {
                $(
                    $crate::__if_suite! { $suite
                        v.push((stringify!($prov), $crate::SuiteId::$id));
                    }
                )*
                let _ = v;
            }
        }
    };
}

/// Generate one `#[test]` per (provider, suite) pair compiled in: the
/// provider's feature is on and it offers the suite, whose feature is on.
///
/// ```ignore
/// e4_testkit::conformance!(messages_round_trip, |provider, suite| {
///     let (_c2, a, mut b) = e4_testkit::pair(provider, suite, &key);
///     // ...
/// });
/// ```
///
/// expands to a module `messages_round_trip` with one module per provider
/// and one test per suite, so that a failure names its pair:
/// `messages_round_trip::pqclean::hybrid`, `messages_round_trip::small::symmetric`
/// (filter with `cargo test pqclean::` or `cargo test ::hybrid`). The body
/// sees `provider: &'static CryptoProvider` and `suite: SuiteId` under the
/// names given, and the items of the enclosing module (`use super::*`).
///
/// `messages_round_trip::generated()` lists the pairs generated, to check
/// against [`crate::matrix()`] (the pairs e4-backends actually compiled).
///
/// | provider | suites |
/// | --- | --- |
/// | `pqclean` | symmetric, pubkey, pq, pq_draft, hybrid |
/// | `libcrux` | symmetric, pubkey, pq, hybrid |
/// | `rustcrypto` | symmetric, pubkey, pq, hybrid |
/// | `small` | symmetric |
#[macro_export]
macro_rules! conformance {
    ($name:ident, |$p:ident, $s:ident| $body:expr $(,)?) => {
        pub mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::__if_pqclean! {
                $crate::__conformance_provider!(
                    pqclean,
                    $crate::backends::providers::pqclean::PROVIDER,
                    [symmetric Symmetric, pubkey PubKey, pq PostQuantum, pq_draft PqDraft, hybrid Hybrid],
                    $p, $s, $body
                );
            }
            $crate::__if_libcrux! {
                $crate::__conformance_provider!(
                    libcrux,
                    $crate::backends::providers::libcrux::PROVIDER,
                    [symmetric Symmetric, pubkey PubKey, pq PostQuantum, hybrid Hybrid],
                    $p, $s, $body
                );
            }
            $crate::__if_rustcrypto! {
                $crate::__conformance_provider!(
                    rustcrypto,
                    $crate::backends::providers::rustcrypto::PROVIDER,
                    [symmetric Symmetric, pubkey PubKey, pq PostQuantum, hybrid Hybrid],
                    $p, $s, $body
                );
            }
            $crate::__if_small! {
                $crate::__conformance_provider!(
                    small,
                    $crate::backends::providers::small::PROVIDER,
                    [symmetric Symmetric],
                    $p, $s, $body
                );
            }

            /// The (provider name, suite) pairs this module has a test for.
            #[allow(dead_code)]
            pub fn generated() -> ::std::vec::Vec<(&'static str, $crate::SuiteId)> {
                #[allow(unused_mut)]
                let mut v = ::std::vec::Vec::new();
                $crate::__if_pqclean! { pqclean::generated(&mut v); }
                $crate::__if_libcrux! { libcrux::generated(&mut v); }
                $crate::__if_rustcrypto! { rustcrypto::generated(&mut v); }
                $crate::__if_small! { small::generated(&mut v); }
                v
            }
        }
    };
}
