//! The Big List of Naughty Strings (`tests/data/naughty-strings/blns.json`): each
//! string stands in every text field of every message kind, and survives encode and
//! decode exactly; the topic builder refuses exactly the strings that cannot stand in a
//! topic level.

mod common;

use std::path::Path;

use common::GATEWAY;
use dji_cloud_ota::{
    Data, Device, EventsReply, Id, Message, OtaCreate, OtaCreateOutput, OtaCreateReply,
    OtaProgress, Progress, ProgressExt, ProgressOutput, ResultCode, Serial, Step, TaskStatus,
    Topic, TopicKind, UpgradeType, decode,
};

fn naughty_strings() -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/naughty-strings/blns.json");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let strings: Vec<String> = serde_json::from_slice(&text).expect("blns.json is a JSON array");
    assert!(strings.len() >= 500, "only {} strings", strings.len());
    strings
}

/// One message of each kind with `s` in every text field it has: ids, `gateway`, the
/// topic's serial when `s` is topic-safe, device fields, statuses, step, `sub_status`.
fn messages_with(s: &str) -> Vec<Message> {
    let sn = Serial::new(s).unwrap_or_else(|_| Serial::new(GATEWAY).unwrap());
    let device = Device::new(s, s, UpgradeType(3)).with_file(s, s, 1, s);
    let data = [
        Data::OtaCreate(OtaCreate {
            devices: vec![device.clone(), device],
        }),
        Data::OtaCreateReply(OtaCreateReply {
            result: ResultCode(0),
            output: Some(OtaCreateOutput {
                status: TaskStatus::from(s),
            }),
        }),
        Data::OtaProgress(OtaProgress {
            result: ResultCode(312_003),
            output: ProgressOutput {
                status: TaskStatus::from(s),
                progress: Some(Progress {
                    percent: 50,
                    step: Some(Step::from(s)),
                    step_result: Some(0),
                }),
                ext: Some(ProgressExt { rate: Some(1) }),
                sub_status: Some(s.into()),
            },
        }),
        Data::OtaProgressReply(EventsReply {
            result: ResultCode(0),
        }),
    ];
    data.into_iter()
        .map(|data| Message {
            sn: sn.clone(),
            tid: Id::from_text(s),
            bid: Id::from_text(s),
            timestamp: 1_700_000_000_000,
            gateway: Some(s.into()),
            need_reply: Some(true),
            data,
        })
        .collect()
}

/// Every text field of `message`, as decoded.
fn texts(message: &Message) -> Vec<String> {
    let mut out = vec![
        message.tid.to_string(),
        message.bid.to_string(),
        message.gateway.as_deref().unwrap_or_default().to_owned(),
    ];
    match &message.data {
        Data::OtaCreate(create) => {
            for d in &create.devices {
                out.extend([d.sn.to_string(), d.product_version.to_string()]);
                out.extend(
                    [&d.file_url, &d.md5, &d.file_name]
                        .into_iter()
                        .map(|t| t.as_deref().unwrap_or_default().to_owned()),
                );
            }
        }
        Data::OtaCreateReply(reply) => {
            out.push(reply.output.as_ref().unwrap().status.as_str().to_owned());
        }
        Data::OtaProgress(event) => {
            let output = &event.output;
            out.push(output.status.as_str().to_owned());
            let step = output.progress.as_ref().unwrap().step.as_ref().unwrap();
            out.push(step.as_str().to_owned());
            out.push(output.sub_status.as_deref().unwrap_or_default().to_owned());
        }
        Data::OtaProgressReply(_) => {}
    }
    out
}

#[test]
fn every_naughty_string_survives_a_round_trip_in_every_text_field() {
    let mut fields = 0;
    for s in naughty_strings() {
        for message in messages_with(&s) {
            let encoded = message.encode();
            let decoded = decode(&encoded.topic, &encoded.payload)
                .unwrap_or_else(|e| panic!("{s:?} on {}: {e}", encoded.topic));
            assert_eq!(decoded, message, "{s:?}");
            for text in texts(&decoded) {
                assert_eq!(text, s, "{s:?} on {}", encoded.topic);
                fields += 1;
            }
            assert_eq!(decoded.encode(), encoded, "{s:?}: encoding is not stable");
        }
    }
    assert!(fields > 500 * 15, "{fields}");
}

#[test]
fn the_topic_builder_refuses_exactly_the_strings_that_are_not_topic_safe() {
    let mut refused = 0;
    for s in naughty_strings() {
        let unsafe_for_a_topic = s.is_empty() || s.contains(['/', '+', '#', '\0']);
        match Serial::new(&s) {
            Ok(serial) => {
                assert!(!unsafe_for_a_topic, "{s:?} was accepted");
                assert_eq!(serial.as_str(), s);
                for kind in TopicKind::ALL {
                    let topic = Topic::new(serial.clone(), kind);
                    let text = topic.to_string();
                    assert_eq!(text, format!("thing/product/{s}/{}", kind.suffix()));
                    assert_eq!(Topic::parse(&text), Ok(topic), "{s:?}");
                }
            }
            Err(e) => {
                assert!(unsafe_for_a_topic, "{s:?} was refused: {e}");
                refused += 1;
            }
        }
    }
    // The list's empty string, paths, URLs and wildcards among others.
    assert!(refused >= 10, "only {refused} refused");
}
