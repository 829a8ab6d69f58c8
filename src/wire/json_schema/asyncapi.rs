//! The AsyncAPI 3 document of the same messages over MQTT (`schemas/asyncapi.yaml`):
//! one channel per topic kind with its `{sn}` parameter, the operations of each side
//! (the cloud server and the dock), which reply answers which request, and the MQTT
//! bindings. Each message's payload is a reference to its JSON Schema in `json/`.

use serde_json::{Map, Value, json};

use super::{Direction, IndexEntry, VERSION, index};
use crate::model::{StateTopic, TopicKind};

/// The MQTT bindings' version the document uses.
const MQTT_BINDING_VERSION: &str = "0.2.0";

/// The file name of the AsyncAPI document in `schemas/`.
pub const ASYNCAPI_FILE_NAME: &str = "asyncapi.yaml";

/// The AsyncAPI 3.0 document of the OTA messages and the state push, as a value.
///
/// ```
/// let doc = dji_cloud_ota::json_schema::asyncapi();
/// assert_eq!(doc["asyncapi"], "3.0.0");
/// assert_eq!(doc["channels"]["events"]["address"], "thing/product/{sn}/events");
/// assert_eq!(
///     doc["operations"]["cloudSendOtaCreate"]["reply"]["channel"]["$ref"],
///     "#/channels/services_reply"
/// );
/// ```
pub fn asyncapi() -> Value {
    let entries = index().messages;
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for entry in &entries {
        let channel = channel_id(entry);
        channels.insert(channel.clone(), channel_of(entry));
        messages.insert(entry.name.to_owned(), message_of(entry));
        for side in [Side::Cloud, Side::Dock] {
            let (id, operation) = operation_of(entry, &entries, side);
            operations.insert(id, operation);
        }
    }
    json!({
        "asyncapi": "3.0.0",
        "id": format!("https://docs.rs/crate/dji-cloud-ota/{VERSION}/source/schemas/{ASYNCAPI_FILE_NAME}"),
        "info": {
            "title": "DJI Cloud API: firmware upgrade (OTA)",
            "version": VERSION,
            "description": "The firmware-upgrade messages of the DJI Cloud API over MQTT, as the \
                dji-cloud-ota crate reads and writes them: the `ota_create` service a cloud \
                server sends to a dock, the dock's reply, the `ota_progress` events the dock \
                streams back and the cloud's replies to them, and the devices' state pushes \
                that carry their firmware properties.\n\n\
                Both sides are described: the operations of the cloud server are tagged \
                `cloud`, those of the dock `dock`. Each payload is the canonical form the \
                crate writes (its JSON Schema in `json/`); the crate's decoder also reads \
                the other spellings each schema's description lists. A reply travels on the \
                reply topic of the same serial with the `tid` and `bid` of the message it \
                answers.\n\n\
                MQTT: QoS 1 for every message, not retained; a receiver tolerates the \
                duplicates QoS 1 brings. A server subscribes with the filters of \
                `index.json` (`thing/product/+/events`).",
            "license": { "name": "MIT OR Apache-2.0" },
            "tags": [
                { "name": "cloud", "description": "The cloud server's operations." },
                { "name": "dock", "description": "The dock's operations (a gateway: a dock, for itself and its aircraft)." },
            ],
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "parameters": {
                "sn": {
                    "description": "The serial of the gateway (the dock) on the OTA topics; on `state`, the serial of the device that pushes (the dock or its aircraft). One topic level: none of `/`, `+`, `#`.",
                },
            },
        },
    })
}

/// The channel of an entry: its topic's last level (`events`, `state`).
fn channel_id(entry: &IndexEntry) -> String {
    entry
        .kind
        .map_or(StateTopic::SUFFIX, TopicKind::suffix)
        .to_owned()
}

fn channel_of(entry: &IndexEntry) -> Value {
    let description = match entry.kind {
        Some(kind) => format!(
            "`{}` messages, {}. The topic carries other methods too, which are not OTA \
             messages.",
            kind.method().as_str(),
            sender(entry.direction),
        ),
        None => "A device's state push, sent by the dock for itself and for its aircraft \
                 whenever properties change; of these properties, the firmware's are \
                 described."
            .to_owned(),
    };
    json!({
        "address": entry.topic,
        "title": entry.topic,
        "description": description,
        "parameters": { "sn": { "$ref": "#/components/parameters/sn" } },
        "messages": {
            (entry.name): { "$ref": format!("#/components/messages/{}", entry.name) },
        },
    })
}

fn sender(direction: Direction) -> &'static str {
    match direction {
        Direction::CloudToDock => "sent by the cloud server to the dock",
        Direction::DockToCloud => "sent by the dock to the cloud server",
    }
}

fn message_of(entry: &IndexEntry) -> Value {
    let summary = match entry.method {
        Some(method) => format!("`{method}` on `{}`", entry.topic),
        None => format!("A state push on `{}`", entry.topic),
    };
    let mut message = json!({
        "name": entry.name,
        "title": entry.name,
        "summary": summary,
        "contentType": "application/json",
        "payload": { "$ref": format!("./{}", entry.schema) },
    });
    if entry.reply.is_some() || entry.reply_to.is_some() {
        message["correlationId"] = json!({
            "description": "`tid`: a reply carries the `tid` (and `bid`) of the message it answers.",
            "location": "$message.payload#/tid",
        });
    }
    message
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Cloud,
    Dock,
}

/// The operation of `side` on `entry`'s channel: it sends what it is the sender of, and
/// receives the rest; a request's operation names its reply.
fn operation_of(entry: &IndexEntry, entries: &[IndexEntry], side: Side) -> (String, Value) {
    let sends = matches!(
        (side, entry.direction),
        (Side::Cloud, Direction::CloudToDock) | (Side::Dock, Direction::DockToCloud)
    );
    let (side_name, action) = (
        if side == Side::Cloud { "cloud" } else { "dock" },
        if sends { "send" } else { "receive" },
    );
    let short = entry.name.strip_suffix("Message").unwrap_or(entry.name);
    let id = format!(
        "{side_name}{}{short}",
        if sends { "Send" } else { "Receive" }
    );
    let channel = channel_id(entry);
    let mut operation = json!({
        "action": action,
        "channel": { "$ref": format!("#/channels/{channel}") },
        "summary": format!(
            "The {} {action}s {} on `{}`.",
            if side == Side::Cloud { "cloud server" } else { "dock" },
            entry.name,
            entry.topic,
        ),
        "tags": [{ "name": side_name }],
        "messages": [{ "$ref": format!("#/channels/{channel}/messages/{}", entry.name) }],
        "bindings": {
            "mqtt": { "qos": 1, "retain": false, "bindingVersion": MQTT_BINDING_VERSION },
        },
    });
    let reply = entry
        .reply
        .and_then(|name| entries.iter().find(|e| e.name == name));
    if let (Some(reply), Some(operation)) = (reply, operation.as_object_mut()) {
        let reply_channel = channel_id(reply);
        let condition = if entry.kind == Some(TopicKind::Events) {
            " when the event says `need_reply: 1`"
        } else {
            ""
        };
        operation.insert(
            "reply".into(),
            json!({
                "channel": { "$ref": format!("#/channels/{reply_channel}") },
                "messages": [{
                    "$ref": format!("#/channels/{reply_channel}/messages/{}", reply.name),
                }],
            }),
        );
        operation.insert(
            "description".into(),
            format!(
                "Answered by {} on `{}`{condition}, with the same `tid` and `bid`.",
                reply.name, reply.topic
            )
            .into(),
        );
    }
    (id, operation)
}
