//! e4go's vectors (vectors/interop/e4go) replayed through the C API:
//! symmetric and public-key messages protected byte for byte as e4go did
//! (same clock), and unprotected with e4go's result, negative cases
//! included. One test in its own binary: it sets the library's clock.

use core::ffi::c_void;

use e4::pubkey::*;
use e4::symkey::*;
use e4::util::e4c_set_time;
use e4::*;

/// The string or number value of `"key":` in a JSON line (enough for the
/// flat fields of these files).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":");
    let start = line.find(&pat)? + pat.len();
    let rest = &line[start..];
    if let Some(s) = rest.strip_prefix('"') {
        Some(&s[..s.find('"')?])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn expected(name: &str) -> i32 {
    match name {
        "ok" => E4_RESULT_OK,
        "not_authentic" => E4_ERROR_INVALID_TAG,
        "timestamp_in_future" => E4_ERROR_TIMESTAMP_IN_FUTURE,
        "timestamp_too_old" => E4_ERROR_TIMESTAMP_TOO_OLD,
        "too_short_ciphertext" | "invalid_protected_len" => E4_ERROR_CIPHERTEXT_TOO_SHORT,
        "topic_key_not_found" => E4_ERROR_TOPICKEY_MISSING,
        "invalid_signature" => E4_ERROR_PK_SIGVERIF_FAILED,
        "pubkey_not_found" => E4_ERROR_DEVICEPK_MISSING,
        other => panic!("unexpected expectation {other}"),
    }
}

fn lines(file: &str) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../vectors/interop/e4go/");
    std::fs::read_to_string(format!("{path}{file}"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn topic(line: &str) -> std::ffi::CString {
    std::ffi::CString::new(hex(field(line, "topic_hex").unwrap())).unwrap()
}

fn unprotect_sym(line: &str) -> (i32, Vec<u8>) {
    let mut store = Box::new(e4storage_symkey {
        opaque: [0; E4_STORAGE_SYMKEY_WORDS],
    });
    let s = &mut *store as *mut e4storage_symkey as *mut c_void;
    let tk = field(line, "topic_key").or_else(|| field(line, "client_topic_key"));
    let topic = topic(line);
    let mut hash = [0u8; 16];
    let msg = hex(field(line, "protected").unwrap());
    let mut out = vec![0u8; msg.len()];
    let mut n = 0usize;
    unsafe {
        assert_eq!(e4c_symkey_init(s), 0);
        assert_eq!(
            e4c_symkey_set_id(s, hex(field(line, "client_id").unwrap()).as_ptr()),
            0
        );
        assert_eq!(
            e4c_symkey_set_idkey(s, hex(field(line, "client_key").unwrap()).as_ptr()),
            0
        );
        assert_eq!(
            e4::util::e4c_derive_topichash(hash.as_mut_ptr(), 16, topic.as_ptr()),
            0
        );
        if let Some(tk) = tk.filter(|k| *k != "null") {
            assert_eq!(
                e4c_symkey_set_topic_key(s, hash.as_ptr(), hex(tk).as_ptr()),
                0
            );
        }
        e4c_set_time(field(line, "now").unwrap().parse().unwrap());
        let rc = e4c_symkey_unprotect_message(
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            msg.as_ptr(),
            msg.len(),
            topic.as_ptr(),
            s,
            0,
        );
        // protect at the message's time: e4go's bytes
        if let (Some(pt), Some(ts)) = (field(line, "plaintext"), field(line, "timestamp")) {
            if rc == 0 && field(line, "tamper").is_none() {
                let pt = hex(pt);
                let mut ct = vec![0u8; pt.len() + E4_MSGHDR_LEN];
                let mut clen = 0usize;
                e4c_set_time(ts.parse().unwrap());
                assert_eq!(
                    e4c_symkey_protect_message(
                        ct.as_mut_ptr(),
                        ct.len(),
                        &mut clen,
                        pt.as_ptr(),
                        pt.len(),
                        topic.as_ptr(),
                        s,
                        0
                    ),
                    0
                );
                assert_eq!(ct[..clen], msg[..], "{}", field(line, "case").unwrap());
            }
        }
        e4c_symkey_destroy(s);
        (rc, out[..n].to_vec())
    }
}

fn unprotect_pk(line: &str) -> Option<(i32, Vec<u8>)> {
    let mut store = Box::new(e4storage_pubkey {
        opaque: [0; E4_STORAGE_PUBKEY_WORDS],
    });
    let s = &mut *store as *mut e4storage_pubkey as *mut c_void;
    let topic = topic(line);
    let mut hash = [0u8; 16];
    let msg = hex(field(line, "protected")?);
    let mut out = vec![0u8; msg.len()];
    let mut n = 0usize;
    let c2 = hex(field(line, "c2_curve25519_public_key")?);
    unsafe {
        assert_eq!(e4c_pubkey_init(s), 0);
        assert_eq!(
            e4c_pubkey_set_id(
                s,
                hex(field(line, "receiver_id").or_else(|| field(line, "client_id"))?).as_ptr()
            ),
            0
        );
        assert_eq!(
            e4c_pubkey_set_idseckey(
                s,
                hex(field(line, "receiver_ed25519_private_key")
                    .or_else(|| field(line, "client_ed25519_private_key"))?)
                .as_ptr()
            ),
            0
        );
        assert_eq!(e4c_pubkey_set_c2_pubkey(s, c2.as_ptr()), 0);
        assert_eq!(
            e4::util::e4c_derive_topichash(hash.as_mut_ptr(), 16, topic.as_ptr()),
            0
        );
        let tk = field(line, "topic_key").or_else(|| field(line, "client_topic_key"))?;
        if tk != "null" {
            assert_eq!(
                e4c_pubkey_set_topic_key(s, hash.as_ptr(), hex(tk).as_ptr()),
                0
            );
        }
        if let Some(known) = line.find("known_pubkeys\":[") {
            let list = &line[known..known + line[known..].find(']')?];
            for entry in list.split("{\"id\":").skip(1) {
                let id = hex(&entry[1..33]);
                let pk = hex(field(entry, "public_key")?);
                assert_eq!(e4c_pubkey_set_device_key(s, id.as_ptr(), pk.as_ptr()), 0);
            }
        }
        e4c_set_time(field(line, "now")?.parse().unwrap());
        let rc = e4c_pubkey_unprotect_message(
            out.as_mut_ptr(),
            out.len(),
            &mut n,
            msg.as_ptr(),
            msg.len(),
            topic.as_ptr(),
            s,
            0,
        );
        e4c_pubkey_destroy(s);
        // the sender protects at the message's time: e4go's bytes
        if rc == 0
            && field(line, "tamper").is_none()
            && field(line, "sender_ed25519_private_key").is_some()
        {
            assert_eq!(e4c_pubkey_init(s), 0);
            assert_eq!(
                e4c_pubkey_set_id(s, hex(field(line, "sender_id")?).as_ptr()),
                0
            );
            assert_eq!(
                e4c_pubkey_set_idseckey(
                    s,
                    hex(field(line, "sender_ed25519_private_key")?).as_ptr()
                ),
                0
            );
            assert_eq!(e4c_pubkey_set_c2_pubkey(s, c2.as_ptr()), 0);
            assert_eq!(
                e4c_pubkey_set_topic_key(s, hash.as_ptr(), hex(tk).as_ptr()),
                0
            );
            let pt = hex(field(line, "plaintext")?);
            let mut ct = vec![0u8; msg.len()];
            let mut clen = 0usize;
            e4c_set_time(field(line, "timestamp")?.parse().unwrap());
            assert_eq!(
                e4c_pubkey_protect_message(
                    ct.as_mut_ptr(),
                    ct.len(),
                    &mut clen,
                    pt.as_ptr(),
                    pt.len(),
                    topic.as_ptr(),
                    s,
                    0
                ),
                0
            );
            assert_eq!(ct[..clen], msg[..], "{}", field(line, "case")?);
            e4c_pubkey_destroy(s);
        }
        Some((rc, out[..n].to_vec()))
    }
}

#[test]
fn e4go_messages_through_the_c_api() {
    let (mut sym, mut pk) = (0, 0);
    let mut all = lines("symkey_messages.jsonl");
    all.extend(lines("pubkey_messages.jsonl"));
    all.extend(lines("negative.jsonl"));
    for line in &all {
        let case = field(line, "case").unwrap();
        let kind = field(line, "kind");
        let result = match (field(line, "mode"), kind) {
            (Some("symkey"), None | Some("symkey_message")) => {
                sym += 1;
                Some(unprotect_sym(line))
            }
            (Some("pubkey"), None | Some("pubkey_message")) => {
                let r = unprotect_pk(line);
                pk += r.is_some() as usize;
                r
            }
            _ => None,
        };
        let Some((rc, plain)) = result else { continue };
        let mut want = expected(field(line, "expect").unwrap());
        if field(line, "libe4_result") == Some("E4_ERROR_CIPHERTEXT_TOO_SHORT") {
            // e4go looks keys up before it checks the length; the C API
            // checks the length first, as libe4 (the vector's libe4_result)
            want = E4_ERROR_CIPHERTEXT_TOO_SHORT;
        }
        assert_eq!(rc, want, "{case}");
        if rc == 0 {
            assert_eq!(plain, hex(field(line, "plaintext").unwrap()), "{case}");
        }
    }
    e4c_set_time(0);
    // 7 + 11 symmetric, 7 + 10 public-key cases
    assert!(
        sym >= 18 && pk >= 17,
        "replayed {sym} symmetric, {pk} public-key cases"
    );
    println!("replayed {sym} symmetric and {pk} public-key cases");
}
