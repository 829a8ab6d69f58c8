//! JSON Schemas (draft 2020-12) of the four OTA messages and of a device's state push
//! (its firmware properties), for servers written in other languages. Behind the
//! default feature `schemars`.
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
use schemars::{JsonSchema, Schema};
use serde::Serialize;
use serde_json::{Value, json};

mod asyncapi;
mod yaml;

pub use asyncapi::{ASYNCAPI_FILE_NAME, asyncapi};

use crate::model::payload::{Payload, SchemaPayloadFn, with_schema_payload};
use crate::model::{CanonicalEnvelope, CanonicalState, StateTopic, THING_PREFIX, TopicKind};
use crate::rules::check::{Problem, Violation};

/// The JSON Schema of the message that travels on `kind`'s topic, in canonical form.
///
/// A self-contained draft 2020-12 schema: the envelope's fields, `method` as a constant,
/// `data` as the topic's payload type, and the shared types (`Id`, `ResultCode`,
/// `TaskStatus`, ...) under `$defs`. Its `title` is a type name for code generators
/// (`OtaProgressMessage`); its `description` says which contract it is, which other
/// spellings the decoder reads, and which rules only `validate()` checks.
pub fn message_schema(kind: TopicKind) -> Value {
    struct SchemaOf;
    impl SchemaPayloadFn for SchemaOf {
        type Output = Schema;
        fn call<P: Payload + JsonSchema>(self) -> Schema {
            schema_of::<P>()
        }
    }
    with_schema_payload(kind, SchemaOf).to_value()
}

/// The file name of `kind`'s schema: method, topic suffix, `.schema.json`
/// (`ota_create.services.schema.json`).
pub fn file_name(kind: TopicKind) -> String {
    format!("{}.{}.schema.json", kind.method().as_str(), kind.suffix())
}

/// The folder of `schemas/` that holds the schemas and nothing else, so that a code
/// generator can be pointed at it: `schemas/json/`.
pub const SCHEMA_DIR: &str = "json";

/// The version of the crate the schemas describe, in their `$id` and in the index.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The `$id` of the schema file `file`: its address in the published crate's source on
/// docs.rs, versioned
/// (`https://docs.rs/crate/dji-cloud-ota/0.1.0/source/schemas/json/ota_progress.events.schema.json`).
pub fn schema_id(file: &str) -> String {
    format!("https://docs.rs/crate/dji-cloud-ota/{VERSION}/source/schemas/{SCHEMA_DIR}/{file}")
}

/// The type name of the message on `kind`'s topic, its schema's `title`:
/// `OtaCreateMessage`, `OtaCreateReplyMessage`, `OtaProgressMessage`,
/// `OtaProgressReplyMessage`.
pub const fn message_name(kind: TopicKind) -> &'static str {
    match kind {
        TopicKind::Services => "OtaCreateMessage",
        TopicKind::ServicesReply => "OtaCreateReplyMessage",
        TopicKind::Events => "OtaProgressMessage",
        TopicKind::EventsReply => "OtaProgressReplyMessage",
    }
}

/// The type name of a device's state push, its schema's `title`.
pub const STATE_MESSAGE_NAME: &str = "FirmwarePropertiesMessage";

/// Who sends the messages of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The cloud server sends, the dock receives (`services`, `events_reply`).
    CloudToDock,
    /// The dock sends, the cloud server receives (`services_reply`, `events`, `state`).
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

/// What a message without `method` on a topic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WithoutMethod {
    /// `data`: the topic's OTA message when its `data` has that message's shape, and
    /// another message (not OTA) otherwise, as [`decode`](crate::decode) decides. A
    /// schema alone cannot tell: it requires `method`, as the canonical form has one.
    Data,
    /// `topic`: the topic alone says; the message never has a `method` (a state push).
    Topic,
}

/// The schemas' index, `schemas/index.json`: the crate and version the schemas belong
/// to, and one entry per message kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Index {
    /// `dji-cloud-ota`.
    #[serde(rename = "crate")]
    pub crate_name: &'static str,
    /// The crate's version ([`VERSION`]), which the schemas' `$id` carry too.
    pub version: &'static str,
    /// One entry per message kind, in the order of the protocol's flow, then the state
    /// push.
    pub messages: Vec<IndexEntry>,
}

/// One message kind in the schemas' index: where it travels, how it is recognised,
/// which message answers it, and which schema file describes it. Serialized as an
/// object of `messages` in `schemas/index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexEntry {
    /// The message's type name, its schema's `title`: `OtaProgressMessage`.
    pub name: &'static str,
    /// The topic, with `{sn}` standing for the serial (the gateway's, or for `state`
    /// the device's own): `thing/product/{sn}/events`.
    pub topic: String,
    /// The MQTT topic filter that receives this kind from every gateway (or device):
    /// `thing/product/+/events`.
    pub filter: String,
    /// The envelope's `method`: `ota_create` or `ota_progress`; `null` for a state
    /// push, which has none.
    pub method: Option<&'static str>,
    /// What a message without `method` on this topic is.
    pub without_method: WithoutMethod,
    /// Who sends it.
    pub direction: Direction,
    /// The `name` of the message that answers this one, on its own topic with the same
    /// `tid` and `bid` (for an event, only when it has `need_reply: 1`); `null` when
    /// none does.
    pub reply: Option<&'static str>,
    /// The `name` of the message this one answers; `null` when it is not a reply.
    pub reply_to: Option<&'static str>,
    /// The schema file, relative to the index: `json/ota_progress.events.schema.json`.
    pub schema: String,
    /// The topic kind of an OTA message, for Rust callers (not serialized); `None` for
    /// the state push.
    #[serde(skip)]
    pub kind: Option<TopicKind>,
}

/// The file name of the state push's schema.
pub const STATE_FILE_NAME: &str = "firmware_properties.state.schema.json";

/// The schemas' index: one entry per message kind, in the order of the protocol's flow
/// ([`TopicKind::ALL`]), then the devices' state push. A consumer in another language
/// reads it to subscribe (`filter`), to pick the schema for a received message (by
/// topic and `method`) and to pair requests with replies.
pub fn index() -> Index {
    let mut messages: Vec<IndexEntry> = TopicKind::ALL
        .into_iter()
        .map(|kind| IndexEntry {
            name: message_name(kind),
            topic: format!("{THING_PREFIX}{{sn}}/{}", kind.suffix()),
            filter: kind.wildcard_filter(),
            method: Some(kind.method().as_str()),
            without_method: WithoutMethod::Data,
            direction: Direction::of_topic(kind),
            reply: kind.reply().map(message_name),
            reply_to: TopicKind::ALL
                .into_iter()
                .find(|request| request.reply() == Some(kind))
                .map(message_name),
            schema: format!("{SCHEMA_DIR}/{}", file_name(kind)),
            kind: Some(kind),
        })
        .collect();
    messages.push(IndexEntry {
        name: STATE_MESSAGE_NAME,
        topic: format!("{THING_PREFIX}{{sn}}/{}", StateTopic::SUFFIX),
        filter: StateTopic::wildcard_filter(),
        method: None,
        without_method: WithoutMethod::Topic,
        direction: Direction::DockToCloud,
        reply: None,
        reply_to: None,
        schema: format!("{SCHEMA_DIR}/{STATE_FILE_NAME}"),
        kind: None,
    });
    Index {
        crate_name: "dji-cloud-ota",
        version: VERSION,
        messages,
    }
}

/// Every generated file of `schemas/` as `(path, text)`: the four message schemas and
/// the state push's in [`SCHEMA_DIR`], `index.json` and the AsyncAPI document
/// ([`asyncapi`], as YAML).
///
/// The text is pretty-printed JSON with a final line feed, and ASCII only: characters
/// outside ASCII (in the patterns) are written as `\uXXXX` escapes, so the files read
/// the same in every editor.
pub fn files() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = TopicKind::ALL
        .into_iter()
        .map(|kind| {
            (
                format!("{SCHEMA_DIR}/{}", file_name(kind)),
                to_text(&message_schema(kind)),
            )
        })
        .collect();
    files.push((
        format!("{SCHEMA_DIR}/{STATE_FILE_NAME}"),
        to_text(&state_schema()),
    ));
    files.push(("index.json".to_owned(), to_text(&index())));
    files.push((ASYNCAPI_FILE_NAME.to_owned(), yaml::to_yaml(&asyncapi())));
    files
}

/// The JSON Schema of a device's state push (`thing/product/{sn}/state`) in the
/// canonical form [`StatePush::encode`](crate::StatePush::encode) writes: the envelope
/// and, of `data`, the three firmware properties ([`crate::decode_state`]); the
/// device's other properties are allowed and not described.
///
/// ```
/// use dji_cloud_ota::json_schema::state_schema;
///
/// let schema = state_schema();
/// assert_eq!(schema.pointer("/title"), Some(&"FirmwarePropertiesMessage".into()));
/// assert!(schema.pointer("/$defs/FirmwareState/properties/firmware_version").is_some());
/// ```
pub fn state_schema() -> Value {
    let mut schema = generator().into_root_schema_for::<CanonicalState<'static>>();
    name_schema(&mut schema, STATE_MESSAGE_NAME, STATE_FILE_NAME);
    let other_keys = refuse_other_key_spellings(&mut schema);
    let mut text = format!(
        "A device's state push, sent by a dock for itself or its aircraft on \
         `{THING_PREFIX}{{sn}}/state` ({{sn}} is the device's own serial; `gateway` then \
         names the dock), with the properties that changed. Of these, the schema \
         describes the three firmware properties; the device's many others are allowed. \
         A state push has no `method`.\n\n\
         Contract: the canonical form the dji-cloud-ota crate writes \
         (`StatePush::encode`): the keys spelled as here, integers as JSON numbers, an \
         absent property left out (never `null`).\n\n\
         The crate's decoder (`decode_state`) also reads these spellings, which this \
         schema refuses:"
    );
    let tolerated: Vec<&str> = other_keys
        .iter()
        .map(String::as_str)
        .chain([
            "`firmware_upgrade_status` and `compatible_status` as `true`/`false` (Java peers; DJI's server reads `compatible_status` as a boolean)",
            "integers as decimal strings (`\"1\"`) in every integer field",
            "`null` for an absent property (Java peers)",
            "`tid` and `bid` that are not UUIDs: kept verbatim",
        ])
        .collect();
    push_list(&mut text, &tolerated);
    schema.insert("description".into(), text.into());
    schema.to_value()
}

/// The generator of every schema: draft 2020-12, for what the crate writes.
fn generator() -> schemars::SchemaGenerator {
    SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(drop_integer_width))
        .with_transform(RecursiveTransform(unwrap_description))
        .with_transform(RecursiveTransform(wrap_described_reference))
        .into_generator()
}

/// A reference with keywords beside it (a field's own `description`) becomes
/// `{"description": ..., "allOf": [{"$ref": ...}]}`: the same to a validator, and code
/// generators then use the referenced type by its name instead of declaring a copy of
/// it for each field (`Id1`, `Id2`, ... for `tid` and `bid`).
fn wrap_described_reference(schema: &mut Schema) {
    let Some(object) = schema.as_object_mut() else {
        return;
    };
    if object.len() > 1 {
        if let Some(reference) = object.remove("$ref") {
            object.insert("allOf".into(), json!([{ "$ref": reference }]));
        }
    }
}

fn schema_of<D: Payload + JsonSchema>() -> Schema {
    let (kind, method) = (D::TOPIC, D::METHOD);
    let mut schema = generator().into_root_schema_for::<CanonicalEnvelope<'static, D>>();
    name_schema(&mut schema, message_name(kind), &file_name(kind));
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

/// Gives the root schema its `$id` and `title`, and each definition a `title` (its name),
/// which code generators take for the type's name: one type per definition, named as
/// here, rather than a name made up from where it is used.
fn name_schema(schema: &mut Schema, title: &str, file: &str) {
    schema.insert("$id".into(), schema_id(file).into());
    schema.insert("title".into(), title.into());
    if let Some(Value::Object(definitions)) = schema.get_mut("$defs") {
        for (name, definition) in definitions.iter_mut() {
            if let Some(definition) = definition.as_object_mut() {
                definition
                    .entry("title")
                    .or_insert_with(|| name.clone().into());
            }
        }
    }
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

/// The other spellings of values the decoder reads on one topic only.
fn tolerated_values(kind: TopicKind) -> &'static [&'static str] {
    match kind {
        TopicKind::Events => &[
            "the step as a number, as DJI's Java SDK writes it: `1` for `download_firmware`, `2` for `upgrade_firmware`; any other number is kept as an unknown step of its decimal text",
        ],
        _ => &[],
    }
}

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
    let method = kind.method();
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
        .chain(tolerated_values(kind).iter().copied())
        .chain(TOLERATED_EVERYWHERE.iter().copied())
        .collect();
    push_list(&mut text, &tolerated);
    text.push_str(
        "\n\nIntegers written as integral floats (`10.0`, `1e1`, `-0`, as Python writes \
         them) are integers to JSON Schema and to the decoder alike.",
    );
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
    fn non_ascii_is_escaped() {
        let text = to_text(&json!({ "p": "\u{a0}\u{1F600}" }));
        assert_eq!(text, "{\n  \"p\": \"\\u00a0\\ud83d\\ude00\"\n}\n");
    }
}
