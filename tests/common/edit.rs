//! Hostile variants of the fixtures: a value replaced by raw JSON text, a key written
//! twice, the fixture's objects walked with their JSON paths.
//!
//! Paths are spelled as `DataError::path` spells them: `.` for the envelope, then
//! `data.output.status`, `data.devices[1].sn`.

use serde_json::Value;

/// The fixture's text as a JSON value.
pub fn parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("fixtures are JSON")
}

/// The `DataError::path` of a child of `parent`.
pub fn child_path(parent: &str, key: &str) -> String {
    if parent == "." {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Every object in `value` with its path, the envelope first.
pub fn objects(value: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    fn walk<'a>(
        value: &'a Value,
        path: String,
        out: &mut Vec<(String, &'a serde_json::Map<String, Value>)>,
    ) {
        match value {
            Value::Object(map) => {
                out.push((path.clone(), map));
                for (key, child) in map {
                    walk(child, child_path(&path, key), out);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(value, ".".to_owned(), &mut out);
    out
}

/// `value` written as JSON, with one more entry `"extra": <raw>` at the end of the
/// object at `path`.
pub fn with_entry(value: &Value, path: &str, extra: &str, raw: &str) -> String {
    fn write(value: &Value, here: &str, target: (&str, &str, &str), out: &mut String) {
        match value {
            Value::Object(map) => {
                out.push('{');
                for (i, (key, child)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(key).unwrap());
                    out.push(':');
                    write(child, &child_path(here, key), target, out);
                }
                let (path, extra, raw) = target;
                if here == path {
                    if !map.is_empty() {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(extra).unwrap());
                    out.push(':');
                    out.push_str(raw);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, &format!("{here}[{i}]"), target, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, ".", (path, extra, raw), &mut out);
    out
}

/// `value` written as JSON with the value at `path` (which must exist) replaced by the
/// raw JSON text `raw`, such as `1e400` or `"\ud800"`.
pub fn with_raw(value: &Value, path: &str, raw: &str) -> String {
    const MARK: &str = "\u{1}replaced\u{1}";
    let mut copy = value.clone();
    *pointer_mut(&mut copy, path).unwrap_or_else(|| panic!("no {path} in the fixture")) =
        Value::String(MARK.to_owned());
    let marked = serde_json::to_string(&MARK).unwrap();
    let text = copy.to_string();
    assert_eq!(text.matches(&marked).count(), 1);
    text.replace(&marked, raw)
}

/// The value at a `DataError::path` such as `data.devices[0].sn`.
pub fn pointer_mut<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut pointer = String::new();
    for part in path.split('.') {
        let (key, indices) = part.split_once('[').unwrap_or((part, ""));
        pointer.push('/');
        pointer.push_str(key);
        for index in indices.split('[').filter(|i| !i.is_empty()) {
            pointer.push('/');
            pointer.push_str(index.trim_end_matches(']'));
        }
    }
    value.pointer_mut(&pointer)
}
