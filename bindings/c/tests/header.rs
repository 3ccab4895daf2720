//! The checked-in header, `include/e4/e4.h`, is what cbindgen generates from
//! the current sources. `E4_FFI_BLESS=1 cargo test -p e4-ffi --test header`
//! rewrites it.

use std::path::PathBuf;

#[test]
fn header_is_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(&dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let path = dir.join("include/e4/e4.h");
    if std::env::var_os("E4_FFI_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write the header");
        return;
    }
    let current = std::fs::read(&path).unwrap_or_default();
    assert!(
        current == generated,
        "bindings/c/include/e4/e4.h is stale: run `E4_FFI_BLESS=1 cargo test -p e4-ffi --test header` and commit it"
    );
}
