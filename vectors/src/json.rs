//! Small accessors over `serde_json::Value` that turn missing or malformed
//! fields into error messages.

use serde_json::Value;

pub type Res<T> = Result<T, String>;

pub fn field<'a>(v: &'a Value, name: &str) -> Res<&'a Value> {
    v.get(name)
        .filter(|x| !x.is_null())
        .ok_or_else(|| format!("missing field `{name}`"))
}

pub fn opt<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|x| !x.is_null())
}

pub fn str_<'a>(v: &'a Value, name: &str) -> Res<&'a str> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| format!("field `{name}` is not a string"))
}

pub fn u64_(v: &Value, name: &str) -> Res<u64> {
    field(v, name)?
        .as_u64()
        .ok_or_else(|| format!("field `{name}` is not an unsigned integer"))
}

pub fn hex_(v: &Value, name: &str) -> Res<Vec<u8>> {
    hex::decode(str_(v, name)?).map_err(|e| format!("field `{name}`: bad hex: {e}"))
}

pub fn opt_hex(v: &Value, name: &str) -> Res<Option<Vec<u8>>> {
    match opt(v, name) {
        None => Ok(None),
        Some(_) => hex_(v, name).map(Some),
    }
}

pub fn arr<const N: usize>(v: &Value, name: &str) -> Res<[u8; N]> {
    let b = hex_(v, name)?;
    b.as_slice()
        .try_into()
        .map_err(|_| format!("field `{name}`: expected {N} bytes, got {}", b.len()))
}

/// The exact bytes of the topic: `topic_hex` when present, else `topic`.
pub fn topic_bytes(v: &Value) -> Res<Vec<u8>> {
    match opt(v, "topic_hex") {
        Some(_) => hex_(v, "topic_hex"),
        None => Ok(str_(v, "topic")?.as_bytes().to_vec()),
    }
}

pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, expected {want:?}"))
    }
}

pub fn ensure_hex(what: &str, got: &[u8], want: &[u8]) -> Res<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: got {}, expected {}",
            hex::encode(got),
            hex::encode(want)
        ))
    }
}
