//! A small YAML writer for the AsyncAPI document: block mappings and sequences, every
//! string a double-quoted scalar with JSON's escapes (which YAML reads the same), keys
//! plain when they are plain words. Key order is the value's.

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as a YAML document, with a final line feed.
pub(super) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_block(&mut out, value, 0);
    out
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, item) in map {
                pad(out, indent);
                out.push_str(&key_text(key));
                out.push(':');
                write_item(out, item, indent);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                pad(out, indent);
                out.push('-');
                match item {
                    Value::Object(map) if !map.is_empty() => {
                        // The mapping's first key on the dash's line, the others below it.
                        let mut inner = String::new();
                        write_block(&mut inner, item, indent + 2);
                        out.push(' ');
                        out.push_str(inner.trim_start());
                    }
                    _ => write_item(out, item, indent),
                }
            }
        }
        scalar => {
            pad(out, indent);
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

/// After `key:` or `-`: a scalar on the same line, a collection on the lines below.
fn write_item(out: &mut String, item: &Value, indent: usize) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_block(out, item, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_block(out, item, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar));
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    let _ = write!(out, "{:indent$}", "");
}

fn key_text(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.' | '-'));
    if plain {
        key.to_owned()
    } else {
        Value::from(key).to_string()
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::Object(_) => "{}".to_owned(),
        Value::Array(_) => "[]".to_owned(),
        // null, booleans, numbers and strings: JSON's spelling is YAML's.
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_block_yaml() {
        let value = json!({
            "a": 1,
            "b": { "c": "x\ny", "d": [] },
            "e": [{ "f": true, "g": null }, "h"],
            "thing/{sn}": {},
        });
        assert_eq!(
            to_yaml(&value),
            "a: 1\nb:\n  c: \"x\\ny\"\n  d: []\ne:\n  - f: true\n    g: null\n  - \"h\"\n\"thing/{sn}\": {}\n"
        );
    }
}
