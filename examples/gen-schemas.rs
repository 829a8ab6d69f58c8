//! Regenerates `schemas/` from the crate's types: `cargo run --example gen-schemas`.
//!
//! Writes into `schemas/` (or the directory given as the one argument):
//! - the four message schemas and the state push's (in `json/`), `index.json` and the
//!   AsyncAPI document `asyncapi.yaml`, from `dji_cloud_ota::json_schema`;
//! - `README.md`, whose table is made from the same index;
//! - `examples/<topic>/<fixture>.json`: the canonical encoding of every fixture in
//!   `tests/fixtures/<topic>/` whose message breaks no rule the schemas state, so that a
//!   consumer in another language can check its types and validator against messages
//!   the crate really writes; and `examples/state/<fixture>.json`, the canonical encoding
//!   of every state push in `tests/fixtures/state/`.
//!
//! The test `checked_in_schemas_are_up_to_date` (tests/json_schema.rs) runs
//! [`generate`] into a temporary directory and compares.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dji_cloud_ota::json_schema::{self, index, is_stated};
use dji_cloud_ota::{TopicKind, decode, decode_state};

/// The command that regenerates `schemas/`.
pub const COMMAND: &str = "cargo run --example gen-schemas";

/// Where the fixtures are, from the project root.
pub const FIXTURES: &str = "tests/fixtures";

fn main() -> ExitCode {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "schemas".to_owned());
    match generate(Path::new(&out), Path::new(FIXTURES)) {
        Ok(written) => {
            println!("wrote {} files into {out}/", written.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-schemas: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes every generated file into `out`, replacing the files a previous run wrote
/// there (and only those), and returns their paths relative to `out`.
pub fn generate(out: &Path, fixtures: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = json_schema::files()
        .into_iter()
        .map(|(name, text)| (PathBuf::from(name), text.into_bytes()))
        .collect();
    files.push(("README.md".into(), readme().into_bytes()));
    files.extend(examples(fixtures)?);

    remove_generated(out)?;
    for (path, bytes) in &files {
        let full = out.join(path);
        if let Some(dir) = full.parent() {
            fs::create_dir_all(dir)?;
        }
        fs::write(full, bytes)?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// Removes what a previous run wrote: `*.json`, `README.md` and `asyncapi.yaml` in `out`, and the
/// `examples` and `json` directories. Nothing else in `out` is touched (the TypeScript
/// declarations in `typescript/` have a generator of their own).
fn remove_generated(out: &Path) -> io::Result<()> {
    for dir in ["examples", json_schema::SCHEMA_DIR] {
        let dir = out.join(dir);
        if dir.is_dir() {
            fs::remove_dir_all(dir)?;
        }
    }
    let Ok(entries) = fs::read_dir(out) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file()
            && (name.ends_with(".json")
                || name == "README.md"
                || name == json_schema::ASYNCAPI_FILE_NAME)
        {
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// The canonical encoding of every fixture whose message breaks no rule the schemas
/// state, as `examples/<topic>/<fixture>.json`.
fn examples(fixtures: &Path) -> io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut examples = Vec::new();
    for kind in TopicKind::ALL {
        for path in json_files(&fixtures.join(kind.suffix()))? {
            let payload = fs::read(&path)?;
            let topic = format!("thing/product/4TADKAQ000002J/{}", kind.suffix());
            let message = decode(&topic, &payload).map_err(|e| {
                io::Error::other(format!("{} does not decode: {e}", path.display()))
            })?;
            let breaks_stated_rule = message
                .validate()
                .err()
                .is_some_and(|errors| errors.violations.iter().any(is_stated));
            if !breaks_stated_rule {
                let name = path.file_name().unwrap_or_default();
                let target = Path::new("examples").join(kind.suffix()).join(name);
                examples.push((target, message.encode().payload));
            }
        }
    }
    // The devices' state pushes, each on its device's topic.
    for path in json_files(&fixtures.join("state"))? {
        let payload = fs::read(&path)?;
        let push = decode_state("thing/product/4TADKAQ000002J/state", &payload)
            .map_err(|e| io::Error::other(format!("{} does not decode: {e}", path.display())))?;
        let name = path.file_name().unwrap_or_default();
        examples.push((
            Path::new("examples/state").join(name),
            push.encode().payload,
        ));
    }
    Ok(examples)
}

/// The `.json` files of `dir`, sorted.
fn json_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .filter(|p| {
            p.as_ref()
                .map_or(true, |p| p.extension().is_some_and(|e| e == "json"))
        })
        .collect::<io::Result<_>>()?;
    paths.sort();
    Ok(paths)
}

fn readme() -> String {
    let mut table = String::from(
        "| type (`title`) | schema | topic | direction | method | reply |\n|---|---|---|---|---|---|\n",
    );
    for entry in index().messages {
        table.push_str(&format!(
            "| `{name}` | [`{schema}`]({schema}) | `{topic}` | {direction} | {method} | {reply} |\n",
            name = entry.name,
            schema = entry.schema,
            topic = entry.topic,
            direction = entry.direction.as_str(),
            method = entry
                .method
                .map_or("(none)".to_owned(), |m| format!("`{m}`")),
            reply = entry.reply.map_or("".to_owned(), |r| format!("`{r}`")),
        ));
    }
    README
        .replace("{table}", &table)
        .replace("{command}", COMMAND)
        .replace("{version}", json_schema::VERSION)
}

const README: &str = r#"# JSON Schemas of the OTA messages and the firmware properties

Generated from the types of the `dji-cloud-ota` crate (version {version}) by
`{command}`; do not edit by hand. A test regenerates them and fails on any difference.

{table}
- `json/` holds the schemas and nothing else: point a code generator at the folder.
- `index.json` is that table for programs, with the crate's `version` and, per message,
  its type `name`, `topic`, MQTT `filter` (`thing/product/+/events`), `method`,
  `without_method`, `direction`, `reply` / `reply_to` (the `name` of the message that
  answers it / that it answers) and `schema` (a path relative to the index).
- `asyncapi.yaml` is the AsyncAPI 3 document of the same messages over MQTT: a channel
  per topic with its `{sn}` parameter, the operations of the cloud server and of the
  dock (tagged `cloud` and `dock`), each request's reply, QoS 1 (MQTT bindings), and
  each message's payload a reference to its schema in `json/`.
- `typescript/index.d.ts` holds TypeScript declarations of every message and shared
  type, generated from these schemas by `node tools/gen-typescript.mjs` (after
  `npm ci --prefix tools`); CI fails when they differ from what it generates.
- `examples/<topic>/` holds canonical messages.

To pick the schema for a received message, take the entry whose `topic` matches (`{sn}`
stands for one topic level) and whose `method` is the message's `method`, `null` when
it has none (`message.method ?? null` in TypeScript, `message.get("method")` in
Python). A reply goes to the reply's topic with the `tid` and `bid` of the message it
answers; an `ota_progress` event is answered only when it says `need_reply: 1`.

A message without `method` is routed by `without_method`. On the four OTA topics
(`"data"`) it is the topic's OTA message when its `data` has that message's shape and
another message (an `hms` event, say) otherwise: the crate's decoder (and the Python
package built on it) tells them apart; a schema alone cannot, as the canonical form
always has a `method`. On `state` (`"topic"`) the topic alone says: a device's state
push (`thing/product/{sn}/state`, `{sn}` the device's own serial) never has a `method`.
Its schema describes the envelope and the three firmware properties of `data`
(`firmware_version`, `firmware_upgrade_status`, `compatible_status`); the device's many
other properties are allowed. The crate's `decode_state` also reads the two 0/1
properties as `true`/`false`.

Each schema is draft 2020-12 and self-contained: the envelope, `method` as a constant,
`data`, and the shared types (`Id`, `Device`, `ResultCode`, `TaskStatus`, `UpgradeType`,
`Step`, ...) under `$defs`, each with a `title` that code generators take for its type
name. Its `$id` is versioned: the file's address in the published crate's source on
docs.rs, `https://docs.rs/crate/dji-cloud-ota/{version}/source/schemas/json/<file>`.

## Which contract

A schema describes the **canonical form** the crate writes (`Message::encode`), which is
what a peer should send: keys spelled as in the schema, integers as JSON numbers,
`need_reply` as `0` or `1`, absent fields left out (never `null`). Keys the schema does
not list are allowed (the crate ignores them when it reads), except the other spellings
of listed keys.

The crate's decoder is more tolerant than the schemas. It also reads `"timestamp:"`,
`stauts` and `current_step` (which the schemas refuse with `not: {required: [...]}`), a
missing `method`, integers as strings, the step as a number (DJI's Java SDK),
`need_reply` as a boolean, `null` fields and placeholder ids. Each schema's
`description` lists these spellings. Integers written as integral floats (`10.0`, as
Python writes them) are integers to JSON Schema and to the decoder alike.

## What the schemas check

Where JSON Schema can say it, what `Message::validate` checks: `tid` and `bid` are
UUIDs, `timestamp` is milliseconds between 2015 and 2100, serials are not empty and
hold none of `/ + # NUL`, 1 to 2 devices, text of at most 10240 characters,
`product_version` of dot-separated digits, `file_url` `http://` or `https://` without
whitespace or control characters, `md5` of 32 hex digits, `file_size` not zero, the
four package fields all together or none (`dependentRequired`), `percent` 0 to 100,
and which fields are required.

What JSON Schema cannot say is named in each schema's `description`: `gateway` must be
the serial of the topic (the topic is not in the payload), and no device serial may
appear twice (JSON Schema cannot compare items by one field).

**Open enums.** `status`, `step_key`, `firmware_upgrade_type` and `result` allow any
value of their type, and list the values the crate knows, with their meaning, as a type
of their own: `TaskStatus` is `anyOf: [{$ref: KnownTaskStatus}, {type: string}]`, and
`KnownTaskStatus` a `oneOf` of `{const, description}`. The crate's decoder keeps an
unknown value (`validate()` refuses an unknown status, step or upgrade type), so a
schema that refused it would drop messages from newer firmware. Generators make two
types of each: `KnownTaskStatus`, a union or enum of the known values (for completion
and exhaustive matches), and `TaskStatus`, it or any string. A known number has a
`title` made of its meaning, which generators make the member's name
(`KnownResultCode.DockIsBusy` for `312015`).

**References.** A field that refers to a shared type and says more of it is
`{"description": ..., "allOf": [{"$ref": ...}]}`, not a `$ref` with a `description`
beside it: generators then use the type by its name (`tid: Id`), where they would
declare a copy of it for each field (`Id1`, `Id2`, ...).

**Devices.** `data.devices` holds 1 or 2 devices, said as `contains: true` with
`minContains`/`maxContains` (every item counts): generators make it a plain array
(`Device[]`), where `minItems`/`maxItems` would make it a tuple.

**Ids.** `tid` and `bid` carry `format: uuid` (datamodel-code-generator makes them
`UUID`) and a `pattern`, so that a validator that treats `format` as an annotation (the
draft 2020-12 default) still checks them.

## Examples

`examples/<topic>/` holds the canonical encoding of every fixture of the crate's test
suite that breaks no rule the schemas state (some carry unknown enum values). Each
validates against its schema; `tests/python/check_schemas.py` checks this with Python's
`jsonschema`, and that the rule-breaking messages of `tests/fixtures/breaks_a_rule/` are
refused.

## Notes for validators

- Python `jsonschema`: `Draft202012Validator(schema,
  format_checker=Draft202012Validator.FORMAT_CHECKER)`. Python's `re` lets `$` match
  before a final line feed, so `"1.00.223\n"` passes `product_version`'s pattern there;
  every other pattern bounds the length or excludes line feeds.
- TypeScript `ajv`: `Ajv2020` (`ajv/dist/2020`), with `ajv-formats` for `uuid`.
- The patterns hold literal characters, not `\u` escapes (which Go's RE2 does not
  read); the files write those characters as JSON `\u` escapes, so they stay ASCII.
"#;
