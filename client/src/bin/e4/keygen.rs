//! `e4 keygen`: generate keys, like e4go's e4keygen.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use e4_backends::rng::OsRng;
use e4_proto::crypto::Rng;
use e4_proto::keys::is_all_zero;
use zeroize::Zeroizing;

use crate::identity::read_password;
use crate::keys::{with_suffix, write_key_file};
use crate::CliError;
use e4_proto::{Family, SuiteId};

/// Generate a key and write it to files (mode 0600).
///
/// The secret key goes to OUT and the public key, for key pairs, to
/// OUT.pub, as raw bytes (the format of e4go's e4keygen). Existing files are
/// never replaced without --force.
///
/// Examples:
///
///   e4 keygen --type symmetric --out device.key
///
///   e4 keygen --type ed25519 --out device   # device and device.pub
///
///   e4 keygen --type ml-kem --out device-kem
#[derive(Args, Debug)]
#[command(verbatim_doc_comment)]
pub struct KeygenArgs {
    /// Kind of key.
    #[arg(long = "type", value_enum, default_value = "symmetric")]
    kind: KeyType,
    /// File for the secret key (the public key goes to OUT.pub).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Replace existing files.
    #[arg(long)]
    force: bool,
    /// Suite of an ml-kem or ml-dsa key: pq (ML-KEM-768 / ML-DSA-65),
    /// pq-draft (draft-FIPS Kyber768 / Dilithium3) or hybrid (ML-KEM-768 ‖
    /// X25519 / Ed25519 ‖ ML-DSA-65).
    #[arg(long, value_parser = crate::parse_suite, value_name = "SUITE")]
    suite: Option<SuiteId>,
    /// Derive a symmetric or ed25519 key from the password in FILE (first
    /// line, at least 16 bytes), exactly as e4go does (Argon2i, empty
    /// salt), instead of drawing a random key.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// Kinds of keys.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum KeyType {
    /// 32-byte symmetric key (client key or topic key).
    Symmetric,
    /// Ed25519 key pair: 64-byte secret (seed ‖ public), 32-byte public.
    Ed25519,
    /// Curve25519 key pair (C2's key in E4's public-key mode).
    Curve25519,
    /// ML-KEM key pair (C2 encapsulates commands to it).
    MlKem,
    /// ML-DSA key pair (signatures of messages, or C2's command key).
    MlDsa,
}

pub fn run(a: KeygenArgs) -> Result<(), CliError> {
    if a.password_file.is_some() && !matches!(a.kind, KeyType::Symmetric | KeyType::Ed25519) {
        return Err(CliError::usage(
            "--password-file only derives symmetric and ed25519 keys",
        ));
    }
    let pq_key = matches!(a.kind, KeyType::MlKem | KeyType::MlDsa);
    if a.suite.is_some() && !pq_key {
        return Err(CliError::usage(
            "--suite only applies to ml-kem and ml-dsa keys",
        ));
    }
    let pq_suite = a.suite.unwrap_or(SuiteId::PostQuantum);
    if pq_suite.family() != Family::Kem {
        return Err(CliError::usage(
            "--suite of an ml-kem or ml-dsa key: pq, pq-draft or hybrid",
        ));
    }
    let pub_path = with_suffix(&a.out, ".pub");
    let has_public = a.kind != KeyType::Symmetric;
    if !a.force {
        for p in [Some(&a.out), has_public.then_some(&pub_path)]
            .into_iter()
            .flatten()
        {
            if p.exists() {
                return Err(CliError::Failed(format!(
                    "{} already exists; use --force to replace it",
                    p.display()
                )));
            }
        }
    }
    let (secret, public) = generate(&a, pq_suite)?;
    write_key_file(&a.out, &secret, a.force)?;
    println!("secret key written to {} (mode 0600)", a.out.display());
    if let Some(public) = public {
        write_key_file(&pub_path, &public, a.force)?;
        print_public(&pub_path, &public);
    }
    Ok(())
}

fn print_public(path: &Path, public: &[u8]) {
    if public.len() <= 32 {
        println!(
            "public key written to {}: {}",
            path.display(),
            hex::encode(public)
        );
    } else {
        println!(
            "public key written to {} ({} bytes)",
            path.display(),
            public.len()
        );
    }
}

type KeyPair = (Zeroizing<Vec<u8>>, Option<Vec<u8>>);

fn random_symmetric() -> Zeroizing<Vec<u8>> {
    let mut k = Zeroizing::new(vec![0u8; 32]);
    while is_all_zero(&k) {
        OsRng.fill(&mut k);
    }
    k
}

fn generate(a: &KeygenArgs, pq_suite: SuiteId) -> Result<KeyPair, CliError> {
    let p = crate::provider();
    let password = match &a.password_file {
        Some(f) => Some(read_password(None, Some(f))?),
        None => None,
    };
    let fail = |e: e4_proto::Error| CliError::Failed(format!("key generation failed: {e}"));
    Ok(match a.kind {
        KeyType::Symmetric => match password {
            Some(pw) => {
                let k = e4_backends::password::symkey_from_password(&pw)
                    .map_err(|_| password_error(&pw))?;
                (Zeroizing::new(k.as_bytes().to_vec()), None)
            }
            None => (random_symmetric(), None),
        },
        KeyType::Ed25519 => match password {
            Some(pw) => {
                let sk = e4_client::config::ed25519_from_password(&pw)?;
                (
                    Zeroizing::new(sk.as_bytes().to_vec()),
                    Some(sk.public().to_vec()),
                )
            }
            None => {
                let sig = p
                    .suite(e4_proto::SuiteId::PubKey)
                    .and_then(|s| s.sig())
                    .map_err(fail)?;
                let mut sk = Zeroizing::new(vec![0u8; 64]);
                let mut pk = vec![0u8; 32];
                sig.generate(&mut OsRng, &mut sk, &mut pk).map_err(fail)?;
                (sk, Some(pk))
            }
        },
        KeyType::Curve25519 => {
            let x = p
                .suite(e4_proto::SuiteId::PubKey)
                .and_then(|s| s.x25519())
                .map_err(fail)?;
            let sk = random_symmetric();
            let pk = x.public_key(sk[..].try_into().expect("32 bytes"));
            (sk, Some(pk.to_vec()))
        }
        KeyType::MlKem => {
            let kem = p.suite(pq_suite).and_then(|s| s.kem()).map_err(fail)?;
            let params = pq_suite.params();
            let mut sk = Zeroizing::new(vec![0u8; params.kem_secret_key]);
            let mut pk = vec![0u8; params.kem_public_key];
            kem.generate(&mut OsRng, &mut sk, &mut pk).map_err(fail)?;
            (sk, Some(pk))
        }
        KeyType::MlDsa => {
            let sig = p.suite(pq_suite).and_then(|s| s.sig()).map_err(fail)?;
            let params = pq_suite.params();
            let mut sk = Zeroizing::new(vec![0u8; params.sig_secret_key]);
            let mut pk = vec![0u8; params.sig_public_key];
            sig.generate(&mut OsRng, &mut sk, &mut pk).map_err(fail)?;
            (sk, Some(pk))
        }
    })
}

fn password_error(pw: &str) -> CliError {
    e4_client::ConfigError::PasswordTooShort {
        min: e4_backends::password::MIN_PASSWORD_LEN,
        got: pw.len(),
    }
    .into()
}
