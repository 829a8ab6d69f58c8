//! JSON Schema fragments of single values, each stating one rule of validation from the
//! same constant, for the model's `schema_with` attributes and hand-written
//! `JsonSchema` impls. The whole-message schemas are built in `wire::json_schema`.

use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use crate::rules::check::is_forbidden_in_url;
use crate::rules::limits::{
    MAX_DEVICES, MAX_PERCENT, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MD5_HEX_DIGITS, MIN_DEVICES,
    MIN_TIMESTAMP_MS, UNSAFE_IN_SERIAL,
};

/// A topic-safe serial (`gateway`, `devices[].sn`): not empty, none of `/`, `+`, `#`
/// and NUL, at most [`MAX_TEXT_CHARS`] characters.
pub(crate) fn serial(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_TEXT_CHARS,
        "pattern": format!("^[^{}]*$", class_body(|c| UNSAFE_IN_SERIAL.contains(&c))),
    })
}

/// Text that must not be empty, at most [`MAX_TEXT_CHARS`] characters.
pub(crate) fn text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "minLength": 1, "maxLength": MAX_TEXT_CHARS })
}

/// Text of at most [`MAX_TEXT_CHARS`] characters, possibly empty.
pub(crate) fn short_text(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "maxLength": MAX_TEXT_CHARS })
}

/// `product_version`: at least two dot-separated groups of ASCII digits.
pub(crate) fn version(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": MAX_TEXT_CHARS,
        "pattern": "^[0-9]+(\\.[0-9]+)+$",
    })
}

/// `file_url`: `http://` or `https://` (any case), a host, no whitespace or control
/// characters anywhere. The second condition is a `not` rather than part of one anchored
/// pattern so that it holds in every regex dialect (in Python, `$` also matches before a
/// final line feed).
pub(crate) fn http_url(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "maxLength": MAX_TEXT_CHARS,
        "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://[^/]",
        "not": { "pattern": format!("[{}]", class_body(is_forbidden_in_url)) },
    })
}

/// `md5`: [`MD5_HEX_DIGITS`] hex digits, either case.
pub(crate) fn md5(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": MD5_HEX_DIGITS,
        "maxLength": MD5_HEX_DIGITS,
        "pattern": format!("^[0-9a-fA-F]{{{MD5_HEX_DIGITS}}}$"),
    })
}

/// `devices`: [`MIN_DEVICES`] to [`MAX_DEVICES`] items, said with `contains: true` and
/// `minContains`/`maxContains` (every item counts) rather than `minItems`/`maxItems`,
/// which code generators turn into tuples (`[Device] | [Device, Device]`, to which a
/// `Device[]` cannot be assigned). Validators check the count all the same.
pub(crate) fn device_count(schema: &mut Schema) {
    schema.remove("minItems");
    schema.remove("maxItems");
    schema.insert("contains".into(), true.into());
    schema.insert("minContains".into(), MIN_DEVICES.into());
    schema.insert("maxContains".into(), MAX_DEVICES.into());
}

/// `file_size`: bytes, not zero.
pub(crate) fn file_size(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 1 })
}

/// `percent`: 0 to [`MAX_PERCENT`].
pub(crate) fn percent(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "minimum": 0, "maximum": MAX_PERCENT })
}

/// `timestamp`: milliseconds between 2015 and 2100.
pub(crate) fn timestamp(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "minimum": MIN_TIMESTAMP_MS,
        "maximum": MAX_TIMESTAMP_MS,
    })
}

/// `need_reply`: `0` or `1`.
pub(crate) fn flag(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "integer", "enum": [0, 1] })
}

/// A `tid` or `bid`: a UUID, 8-4-4-4-12 hex digits of either case.
pub(crate) fn uuid(description: &str) -> Schema {
    json_schema!({
        "description": description,
        "type": "string",
        "format": "uuid",
        "minLength": 36,
        "maxLength": 36,
        "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    })
}

/// An open enum named `name`: `anyOf` a reference to `Known{name}`, the known values
/// (each a `const` with its meaning), which this registers as a definition of its own,
/// and any other value of `base` (`{"type": "string"}` or `{"type": "integer"}`), which
/// `other` describes.
///
/// Validators accept every value of `base`, as the crate's decoder does. Code
/// generators see two types: the known values as a union or enum of their own
/// (`KnownTaskStatus`, for completion and exhaustive matches) and the open type beside
/// it (`TaskStatus = KnownTaskStatus | string`). Neither carries a `type` beside its
/// `anyOf` or `oneOf`, which generators would turn into an intersection of two types.
pub(crate) fn open_enum(
    generator: &mut SchemaGenerator,
    name: &str,
    summary: &str,
    base: Value,
    known: impl IntoIterator<Item = (Value, String)>,
    other: &str,
) -> Schema {
    let numbers = base.get("type") == Some(&json!("integer"));
    let mut titles: Vec<String> = Vec::new();
    let known: Vec<Value> = known
        .into_iter()
        .map(|(value, meaning)| {
            let mut branch = json!({ "const": value, "description": meaning });
            if numbers {
                // A name for a number: generators make it the member's name
                // (`KnownResultCode.DockIsBusy`, not `integer_312015`).
                let mut title = member_name(&meaning);
                if title.is_empty() || titles.contains(&title) {
                    title = format!("{title}{value}");
                }
                titles.push(title.clone());
                branch["title"] = title.into();
            }
            branch
        })
        .collect();
    let known_name = format!("Known{name}");
    generator.definitions_mut().insert(
        known_name.clone(),
        json!({
            "title": known_name,
            "description": format!(
                "The values of `{name}` this version of the crate knows, with their meaning."
            ),
            "oneOf": known,
        }),
    );
    let reference = format!(
        "#{}/{known_name}",
        generator.settings().definitions_path.trim_end_matches('/')
    );
    let mut other_value = base;
    if let Some(other_value) = other_value.as_object_mut() {
        other_value.insert("description".into(), other.into());
    }
    json_schema!({
        "description": format!(
            "{summary}\n\nOpen: the values of `{known_name}` are those this version of the \
             crate knows, with their meaning; any other value is allowed."
        ),
        "anyOf": [{ "$ref": reference }, other_value],
    })
}

/// A type-like name made of a known value's meaning: its words before any `:` or `;`,
/// without parenthesised asides or a leading "the", each capitalised
/// (`"the dock is busy"` is `DockIsBusy`, `"battery below 20%"` `BatteryBelow20`).
fn member_name(meaning: &str) -> String {
    let head = meaning.split([':', ';']).next().unwrap_or_default();
    let mut plain = String::new();
    let mut depth = 0usize;
    for c in head.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = plain
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let words = match words.split_first() {
        Some((first, rest)) if first.eq_ignore_ascii_case("the") => rest,
        _ => &words[..],
    };
    words
        .iter()
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            let mut chars = lower.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// What an open enum's schema says of a value that `validate()` refuses.
pub(crate) const UNKNOWN_REFUSED: &str = "A value this version of the crate does not know: \
    its decoder keeps it and re-encodes it unchanged; `validate()` refuses it.";

/// The description of the other values of an open enum that nothing validates (the
/// properties of a state push).
pub(crate) const UNKNOWN_KEPT: &str = "A value this version of the crate does not know: \
    its decoder keeps it, and no rule of the tracker uses it.";

/// `dependentRequired` for an object whose optional properties come all together or not
/// at all (a device's firmware package: `file_url`, `md5`, `file_size`, `file_name`).
pub(crate) fn all_or_none_of_optional(schema: &mut Schema) {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let optional: Vec<String> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| {
            p.keys()
                .filter(|k| !required.contains(&k.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let dependent: serde_json::Map<String, Value> = optional
        .iter()
        .map(|field| {
            let others: Vec<&String> = optional.iter().filter(|o| *o != field).collect();
            (field.clone(), json!(others))
        })
        .collect();
    schema.insert("dependentRequired".into(), dependent.into());
}

/// The inside of a regex character class that matches exactly the characters for which
/// `pred` holds, as ranges of literal characters (no `\u` escapes, which not every regex
/// dialect reads).
pub(crate) fn class_body(pred: impl Fn(char) -> bool) -> String {
    let mut body = String::new();
    let mut push = |first: char, last: char| {
        push_class_char(&mut body, first);
        if last != first {
            if u32::from(last) > u32::from(first) + 1 {
                body.push('-');
            }
            push_class_char(&mut body, last);
        }
    };
    let mut run: Option<(char, char)> = None;
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        run = match (run, pred(c)) {
            (Some((first, last)), true) if u32::from(last) + 1 == u32::from(c) => Some((first, c)),
            (Some((first, last)), true) => {
                push(first, last);
                Some((c, c))
            }
            (None, true) => Some((c, c)),
            (Some((first, last)), false) => {
                push(first, last);
                None
            }
            (None, false) => None,
        };
    }
    if let Some((first, last)) = run {
        push(first, last);
    }
    body
}

fn push_class_char(body: &mut String, c: char) {
    if matches!(c, '\\' | ']' | '[' | '^' | '-') {
        body.push('\\');
    }
    body.push(c);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_come_from_the_meaning() {
        assert_eq!(member_name("the dock is busy"), "DockIsBusy");
        assert_eq!(member_name("upgrade failed; retry"), "UpgradeFailed");
        assert_eq!(member_name("PSDK (payload) upgrade"), "PsdkUpgrade");
        assert_eq!(member_name("battery below 20%"), "BatteryBelow20");
        assert_eq!(
            member_name("dock-aircraft transmission error"),
            "DockAircraftTransmissionError"
        );
        assert_eq!(member_name(""), "");
    }

    #[test]
    fn class_body_writes_ranges_and_escapes() {
        assert_eq!(class_body(|c| c.is_ascii_digit()), "0-9");
        assert_eq!(class_body(|c| matches!(c, 'a' | 'b' | 'd')), "abd");
        assert_eq!(class_body(|c| matches!(c, '-' | ']')), "\\-\\]");
    }
}
