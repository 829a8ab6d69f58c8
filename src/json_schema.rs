//! JSON Schemas (draft 2020-12) of the four OTA messages, for servers written in other
//! languages. Behind the default feature `schemars`.
//!
//! Each schema describes one message kind whole (envelope and `data`) in the canonical
//! form [`Message::encode`](crate::Message::encode) writes, which is the form a peer
//! should send. It states the rules of [`Message::validate`](crate::Message::validate)
//! that JSON Schema can state (1 to 2 devices, text of at most 10240 characters,
//! `percent` 0 to 100, MD5 of 32 hex digits, UUID ids, required fields, a firmware
//! package given whole or not at all) and names the others in its descriptions. The
//! enums are open, as in Rust: the known values are listed with their meaning, and any
//! other value is allowed.
//!
//! The schemas are generated from the crate's own types: the derives and the
//! hand-written `JsonSchema` impls beside the hand-written serde. The repository keeps
//! them in `schemas/`, with an index for programs (`schemas/index.json`, which is
//! [`index`]).
//!
//! ```
//! use dji_cloud_ota::TopicKind;
//! use dji_cloud_ota::json_schema::{file_name, message_schema};
//!
//! let schema = message_schema(TopicKind::Events);
//! assert_eq!(file_name(TopicKind::Events), "ota_progress.events.schema.json");
//! assert_eq!(schema.pointer("/properties/method/const"), Some(&"ota_progress".into()));
//! assert_eq!(schema.pointer("/$defs/Progress/properties/percent/maximum"), Some(&100.into()));
//! ```

use std::fmt::Write as _;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::{Value, json};

use crate::limits::{
    MAX_PERCENT, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MD5_HEX_DIGITS, MIN_TIMESTAMP_MS,
};
use crate::message::CanonicalEnvelope;
use crate::topic::{THING_PREFIX, UNSAFE_IN_SERIAL};
use crate::validate::is_forbidden_in_url;
use crate::{
    EventsReply, Method, OtaCreate, OtaCreateReply, OtaProgress, Problem, TopicKind, Violation,
};

/// The JSON Schema of the message that travels on `kind`'s topic, in canonical form.
///
/// A self-contained draft 2020-12 schema: the envelope's fields, `method` as a constant,
/// `data` as the topic's payload type, and the shared types (`Id`, `ResultCode`,
/// `TaskStatus`, ...) under `$defs`. Its `title` is a type name for code generators
/// (`OtaProgressMessage`); its `description` says which contract it is, which other
/// spellings the decoder reads, and which rules only `validate()` checks.
pub fn message_schema(kind: TopicKind) -> Schema {
    match kind {
        TopicKind::Services => schema_of::<OtaCreate>(kind),
        TopicKind::ServicesReply => schema_of::<OtaCreateReply>(kind),
        TopicKind::Events => schema_of::<OtaProgress>(kind),
        TopicKind::EventsReply => schema_of::<EventsReply>(kind),
    }
}

/// The file name of `kind`'s schema: method, topic suffix, `.schema.json`
/// (`ota_create.services.schema.json`).
pub fn file_name(kind: TopicKind) -> String {
    format!(
        "{}.{}.schema.json",
        Method::of_topic(kind).as_str(),
        kind.suffix()
    )
}

/// Who sends the messages of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The cloud server sends, the dock receives (`services`, `events_reply`).
    CloudToDock,
    /// The dock sends, the cloud server receives (`services_reply`, `events`).
    DockToCloud,
}

impl Direction {
    /// Who sends on `kind`'s topic.
    pub const fn of_topic(kind: TopicKind) -> Self {
        match kind {
            TopicKind::Services | TopicKind::EventsReply => Direction::CloudToDock,
            TopicKind::ServicesReply | TopicKind::Events => Direction::DockToCloud,
        }
    }

    /// `cloud-to-dock` or `dock-to-cloud`, as in `schemas/index.json`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::CloudToDock => "cloud-to-dock",
            Direction::DockToCloud => "dock-to-cloud",
        }
    }
}

/// One message kind in the schemas' index: where it travels and which schema file
/// describes it. Serialized as an object of `schemas/index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    /// The topic, with `{sn}` standing for the gateway serial:
    /// `thing/product/{sn}/events`.
    pub topic: String,
    /// The envelope's `method`: `ota_create` or `ota_progress`.
    pub method: &'static str,
    /// Who sends it.
    pub direction: Direction,
    /// The schema's file name, as [`file_name`] gives it.
    pub schema: String,
    /// The topic kind, for Rust callers (not serialized).
    #[serde(skip)]
    pub kind: TopicKind,
}

/// One entry per message kind, in the order of the protocol's flow ([`TopicKind::ALL`]):
/// what a consumer in another language reads to pick the schema for a received
/// message (by topic and `method`).
pub fn index() -> Vec<IndexEntry> {
    TopicKind::ALL
        .into_iter()
        .map(|kind| IndexEntry {
            topic: format!("{THING_PREFIX}{{sn}}/{}", kind.suffix()),
            method: Method::of_topic(kind).as_str(),
            direction: Direction::of_topic(kind),
            schema: file_name(kind),
            kind,
        })
        .collect()
}

/// Every generated file of `schemas/` as `(file name, text)`: the four message schemas
/// and `index.json`.
///
/// The text is pretty-printed JSON with a final line feed, and ASCII only: characters
/// outside ASCII (in the patterns) are written as `\uXXXX` escapes, so the files read
/// the same in every editor.
pub fn files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = TopicKind::ALL
        .into_iter()
        .map(|kind| (file_name(kind), to_text(message_schema(kind).as_value())))
        .collect();
    files.push(("index.json".to_owned(), to_text(&index())));
    files
}

fn schema_of<D: JsonSchema + 'static>(kind: TopicKind) -> Schema {
    let method = Method::of_topic(kind);
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(drop_integer_width))
        .with_transform(RecursiveTransform(unwrap_description))
        .into_generator();
    let mut schema = generator.into_root_schema_for::<CanonicalEnvelope<'static, D>>();
    schema.insert(
        "title".into(),
        format!("{}Message", D::schema_name()).into(),
    );
    let other_keys = refuse_other_key_spellings(&mut schema);
    schema.insert(
        "description".into(),
        describe_message(kind, &other_keys).into(),
    );
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert(
            "method".into(),
            json!({
                "description": format!(
                    "The method: always `{method}` on the `{}` topic.",
                    kind.suffix()
                ),
                "const": method.as_str(),
            }),
        );
    }
    schema
}

/// Leaves out schemars' `format` for integer widths (`int64`, `uint64`): no JSON Schema
/// vocabulary defines them, and strict validators (ajv) refuse unknown formats.
fn drop_integer_width(schema: &mut Schema) {
    let is_width = schema
        .get("format")
        .and_then(Value::as_str)
        .is_some_and(|f| f.starts_with("int") || f.starts_with("uint"));
    if is_width {
        schema.remove("format");
    }
}

/// Joins the hard-wrapped lines of a doc comment, keeping paragraphs and list items.
fn unwrap_description(schema: &mut Schema) {
    if let Some(Value::String(text)) = schema.get_mut("description") {
        *text = unwrap_lines(text);
    }
}

fn unwrap_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, paragraph) in text.split("\n\n").enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        for (j, line) in paragraph.lines().enumerate() {
            if j > 0 {
                out.push(if line.starts_with("- ") { '\n' } else { ' ' });
            }
            out.push_str(line.trim_end());
        }
    }
    out
}

/// Key spellings the decoder reads besides the canonical ones: the object that holds
/// the key (a `$defs` name, `None` for the envelope), the other spelling, the canonical
/// key, and who writes it so. A schema refuses an object with the other spelling (the
/// decoder refuses one with both).
const OTHER_KEY_SPELLINGS: &[(Option<&str>, &str, &str, &str)] = &[
    (
        None,
        "timestamp:",
        "timestamp",
        "every published example up to v1.10",
    ),
    (
        Some("ProgressOutput"),
        "stauts",
        "status",
        "the seed document's table",
    ),
    (
        Some("Progress"),
        "current_step",
        "step_key",
        "the current developer site",
    ),
];

/// Refuses the other key spellings of [`OTHER_KEY_SPELLINGS`] in the objects of `schema`
/// that hold them, with `not: {required: [...]}` (invisible to code generators), and
/// returns the spellings refused, described.
fn refuse_other_key_spellings(schema: &mut Schema) -> Vec<String> {
    let mut described = Vec::new();
    for &(object, other, canonical, origin) in OTHER_KEY_SPELLINGS {
        let target = match object {
            None => schema.as_object_mut(),
            Some(name) => schema
                .pointer_mut(&format!("/$defs/{name}"))
                .and_then(Value::as_object_mut),
        };
        if let Some(target) = target {
            target.insert("not".into(), json!({ "required": [other] }));
            described.push(format!("`{other}` ({origin}) for `{canonical}`"));
        }
    }
    described
}

/// The other spellings the decoder reads, for every topic.
const TOLERATED_EVERYWHERE: &[&str] = &[
    "a missing `method` (the English documentation): the topic and the shape of `data` decide",
    "integers as decimal strings (`\"1654070968655\"`, `\"0\"`) in every integer field",
    "`need_reply` as `true`/`false` or `\"0\"`/`\"1\"`",
    "`null` for an absent optional field (Java peers)",
    "`tid` and `bid` that are not UUIDs (placeholders such as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx`): kept verbatim, refused by `validate()`",
];

/// The rules `validate()` checks that this schema cannot state, per topic.
fn unstated_rules(kind: TopicKind) -> &'static [&'static str] {
    match kind {
        TopicKind::Services => &[
            "`gateway`, when present, is the serial in the topic",
            "no device serial appears twice in `data.devices`",
            "`firmware_upgrade_type` is a known value (this schema allows others: the enum is open)",
        ],
        TopicKind::ServicesReply => &[
            "`gateway`, when present, is the serial in the topic",
            "`output.status` is a known value (this schema allows others: the enum is open)",
        ],
        TopicKind::Events => &[
            "`gateway`, when present, is the serial in the topic",
            "`output.status` and `output.progress.step_key` are known values (this schema allows others: the enums are open)",
        ],
        TopicKind::EventsReply => &["`gateway`, when present, is the serial in the topic"],
    }
}

fn describe_message(kind: TopicKind, other_keys: &[String]) -> String {
    let method = Method::of_topic(kind);
    let sender = match Direction::of_topic(kind) {
        Direction::CloudToDock => "the cloud server to the dock",
        Direction::DockToCloud => "the dock to the cloud server",
    };
    let what = match kind {
        TopicKind::Services => "request",
        TopicKind::ServicesReply => "reply",
        TopicKind::Events => "event",
        TopicKind::EventsReply => "reply to an event",
    };
    let mut text = format!(
        "An `{method}` {what}, sent by {sender} on `{THING_PREFIX}{{sn}}/{}`.\n\n\
         Contract: the canonical form the dji-cloud-ota crate writes (`Message::encode`), \
         which is what a peer should send: the keys spelled as here, integers as JSON \
         numbers, `need_reply` as 0 or 1, an absent field left out (never `null`). Keys \
         that are not listed are allowed: the crate never writes them and ignores them \
         when it reads.\n\n\
         The crate's decoder also reads these spellings, which this schema refuses:",
        kind.suffix()
    );
    let tolerated: Vec<&str> = other_keys
        .iter()
        .map(String::as_str)
        .chain(TOLERATED_EVERYWHERE.iter().copied())
        .collect();
    push_list(&mut text, &tolerated);
    text.push_str(
        "\n\nRules `Message::validate` checks that this schema cannot state (the topic is \
         not part of the payload; JSON Schema cannot compare items by one field):",
    );
    push_list(&mut text, unstated_rules(kind));
    text
}

fn push_list(text: &mut String, items: &[&str]) {
    for (i, item) in items.iter().enumerate() {
        let end = if i + 1 == items.len() { '.' } else { ';' };
        let _ = write!(text, "\n- {item}{end}");
    }
}

/// Whether the schemas state the rule `violation` breaks, so that a message with this
/// violation fails its schema too.
///
/// True for every rule of [`Message::validate`](crate::Message::validate) but these
/// (named in each schema's description instead): `gateway` naming the topic's gateway
/// (the topic is not in the payload), a device serial listed twice (JSON Schema cannot
/// compare items by one field), and a value an open enum does not know (the schemas
/// allow it, as the decoder keeps it).
pub fn is_stated(violation: &Violation) -> bool {
    violation.path != "topic"
        && !matches!(
            violation.problem,
            Problem::GatewayMismatch { .. }
                | Problem::DuplicateDevice { .. }
                | Problem::UnknownValue { .. }
        )
}

// ---- Schemas of single values, used by the derives (`schema_with`) and the hand-written
// `JsonSchema` impls. Each states one rule of `validate()`, from the same constant.

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

/// An open enum: `anyOf` the known values (each a `const` with its meaning) and any
/// other value of `base` (`{"type": "string"}` or `{"type": "integer"}`), which `other`
/// describes.
///
/// Validators accept every value of `base`, as the crate's decoder does; code
/// generators see the known values (Python: a `Literal` union beside `str`/`int`).
pub(crate) fn open_enum(
    summary: &str,
    base: Value,
    known: impl IntoIterator<Item = (Value, String)>,
    other: &str,
) -> Schema {
    let known: Vec<Value> = known
        .into_iter()
        .map(|(value, meaning)| json!({ "const": value, "description": meaning }))
        .collect();
    let mut other_value = base.clone();
    if let Some(other_value) = other_value.as_object_mut() {
        other_value.insert("description".into(), other.into());
    }
    let mut schema = json_schema!({
        "description": format!(
            "{summary}\n\nOpen: the values listed are those this version of the crate \
             knows, with their meaning; any other value is allowed."
        ),
        "anyOf": [{ "oneOf": known }, other_value],
    });
    if let (Some(schema), Some(base)) = (schema.as_object_mut(), base.as_object()) {
        for (key, value) in base {
            schema.insert(key.clone(), value.clone());
        }
    }
    schema
}

/// What an open enum's schema says of a value that `validate()` refuses.
pub(crate) const UNKNOWN_REFUSED: &str = "A value this version of the crate does not know: \
    its decoder keeps it and re-encodes it unchanged; `validate()` refuses it.";

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
fn class_body(pred: impl Fn(char) -> bool) -> String {
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

/// Pretty JSON, ASCII only, with a final line feed.
fn to_text(value: &impl Serialize) -> String {
    let mut out = Vec::new();
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, AsciiPretty::new());
    // Serializing a `Value` or an index entry into a Vec cannot fail.
    if value.serialize(&mut serializer).is_err() {
        return String::new();
    }
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.push('\n');
    text
}

/// serde_json's pretty formatter, writing every character outside ASCII as a `\u`
/// escape (a surrogate pair above U+FFFF).
struct AsciiPretty(serde_json::ser::PrettyFormatter<'static>);

impl AsciiPretty {
    fn new() -> Self {
        Self(serde_json::ser::PrettyFormatter::with_indent(b"  "))
    }
}

impl serde_json::ser::Formatter for AsciiPretty {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_body_writes_ranges_and_escapes() {
        assert_eq!(class_body(|c| c.is_ascii_digit()), "0-9");
        assert_eq!(class_body(|c| matches!(c, 'a' | 'b' | 'd')), "abd");
        assert_eq!(class_body(|c| matches!(c, '-' | ']')), "\\-\\]");
    }

    #[test]
    fn non_ascii_is_escaped() {
        let text = to_text(&json!({ "p": "\u{a0}\u{1F600}" }));
        assert_eq!(text, "{\n  \"p\": \"\\u00a0\\ud83d\\ude00\"\n}\n");
    }
}
