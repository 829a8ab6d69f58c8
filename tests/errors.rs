//! Every error path of `decode`: what kind of error, where (JSON path, line, column) and
//! what was expected.

mod common;

use common::{fixture, topic};
use dji_cloud_ota::limits::MAX_PAYLOAD_BYTES;
use dji_cloud_ota::{DataError, DecodeError, Method, TopicKind, decode};

fn data_error(kind: TopicKind, payload: &[u8]) -> DataError {
    match decode(&topic(kind), payload) {
        Err(DecodeError::Data(e)) => *e,
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn a_bad_value_deep_in_data_says_where_and_what_was_expected() {
    let e = data_error(
        TopicKind::Events,
        &fixture("invalid", "percent_not_a_number"),
    );
    assert_eq!(e.path, "data.output.progress.percent");
    // Line and column in the whole payload, not in `data`: the closing quote of "ten",
    // line 10, column 35.
    assert_eq!((e.line, e.column), (10, 35));
    assert!(e.message.contains("\"ten\""), "{}", e.message);
    assert!(e.message.contains("integer"), "{}", e.message);
    // The envelope was read, so the ids are there for an error reply.
    assert_eq!(
        e.tid.unwrap().to_string(),
        "6a7bfe89-c386-4043-b600-b518e10096cc"
    );
    assert_eq!(
        e.bid.unwrap().to_string(),
        "42a19f36-5117-4520-bd13-fd61d818d52e"
    );
    assert_eq!(e.method, Some(Method::OtaProgress));
    let err = decode(
        &topic(TopicKind::Events),
        &fixture("invalid", "percent_not_a_number"),
    )
    .unwrap_err();
    assert!(err.is_data() && !err.is_syntax() && !err.is_not_ota());
    let text = err.to_string();
    assert!(
        text.contains("data.output.progress.percent") && text.contains("line 10"),
        "{text}"
    );
}

#[test]
fn two_spellings_of_one_key_are_a_data_error_not_a_choice() {
    let e = data_error(TopicKind::Events, &fixture("invalid", "status_and_stauts"));
    assert_eq!(e.path, "data.output");
    assert!(
        e.message.contains("duplicate field `status`"),
        "{}",
        e.message
    );
}

#[test]
fn a_missing_required_field_names_its_object() {
    let e = data_error(TopicKind::Services, &fixture("invalid", "missing_sn"));
    assert_eq!(e.path, "data.devices[1]");
    assert!(e.message.contains("missing field `sn`"), "{}", e.message);
    assert_eq!(e.method, Some(Method::OtaCreate));
}

#[test]
fn envelope_errors_have_no_ids_when_the_envelope_did_not_read() {
    let e = data_error(
        TopicKind::Events,
        br#"{"tid":"t","timestamp":1,"method":"ota_progress","data":{}}"#,
    );
    assert_eq!(e.path, ".");
    assert!(e.message.contains("missing field `bid`"), "{}", e.message);
    assert_eq!((e.tid, e.bid, e.method), (None, None, None));

    let e = data_error(
        TopicKind::Events,
        br#"{"tid":7,"bid":"b","timestamp":1,"data":{}}"#,
    );
    assert_eq!(e.path, "tid");
    assert!(e.message.contains("expected an id"), "{}", e.message);

    let e = data_error(
        TopicKind::Events,
        br#"{"tid":"t","bid":"b","timestamp":-5,"data":{}}"#,
    );
    assert_eq!(e.path, "timestamp");
    assert!(e.message.contains("non-negative integer"), "{}", e.message);

    let e = data_error(
        TopicKind::Events,
        br#"{"tid":"t","bid":"b","timestamp":1,"need_reply":2,"data":{}}"#,
    );
    assert_eq!(e.path, "need_reply");
    assert!(
        e.message.contains("0, 1, true, false or null"),
        "{}",
        e.message
    );

    // An array is not an envelope, even one with the fields in order.
    let e = data_error(
        TopicKind::Events,
        br#"["t","b",1,"ota_progress",null,null,{"result":0}]"#,
    );
    assert_eq!(e.path, ".");
    assert!(
        e.message.contains("invalid type: sequence"),
        "{}",
        e.message
    );
}

#[test]
fn an_array_in_place_of_any_object_is_a_data_error() {
    let envelope = r#"{"tid":"t","bid":"b","timestamp":1,"method":"ota_progress","data":DATA}"#;
    for (data, path) in [
        (r#"[0,{"status":"ok"}]"#, "data"),
        (r#"{"result":0,"output":["ok"]}"#, "data.output"),
        (
            r#"{"result":0,"output":{"status":"ok","progress":[5]}}"#,
            "data.output.progress",
        ),
        (
            r#"{"result":0,"output":{"status":"ok","ext":[5]}}"#,
            "data.output.ext",
        ),
    ] {
        let payload = envelope.replace("DATA", data);
        let e = data_error(TopicKind::Events, payload.as_bytes());
        assert_eq!(e.path, path, "{data}");
        assert!(
            e.message.contains("invalid type: sequence"),
            "{}",
            e.message
        );
    }
    let create = r#"{"tid":"t","bid":"b","timestamp":1,"method":"ota_create","data":{"devices":[["sn","1.0",null,null,null,null,2]]}}"#;
    let e = data_error(TopicKind::Services, create.as_bytes());
    assert_eq!(e.path, "data.devices[0]");
    let reply = r#"{"tid":"t","bid":"b","timestamp":1,"method":"ota_create","data":{"result":0,"output":["ok"]}}"#;
    let e = data_error(TopicKind::ServicesReply, reply.as_bytes());
    assert_eq!(e.path, "data.output");
}

#[test]
fn not_json_is_a_syntax_error_with_its_position() {
    let err = decode(&topic(TopicKind::Events), &fixture("invalid", "truncated")).unwrap_err();
    let DecodeError::Syntax { line, message, .. } = &err else {
        panic!("{err:?}")
    };
    // The file breaks off inside a string, at a raw newline.
    assert_eq!(*line, 1);
    assert!(message.contains("control character"), "{message}");
    assert!(err.is_syntax() && !err.is_data());

    let err = decode(&topic(TopicKind::Events), br#"{"tid":"t","bid":"#).unwrap_err();
    let DecodeError::Syntax {
        line: 1,
        column: 17,
        message,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(message.contains("EOF"), "{message}");

    let err = decode(&topic(TopicKind::Events), b"{\"tid\": tru}").unwrap_err();
    assert!(
        matches!(err, DecodeError::Syntax { line: 1, .. }),
        "{err:?}"
    );
    let err = decode(&topic(TopicKind::Events), b"").unwrap_err();
    assert!(err.is_syntax(), "{err:?}");
}

#[test]
fn trailing_garbage_is_a_syntax_error_even_when_fields_are_missing_first() {
    // serde notices the missing fields before it reaches the `#`; the payload is still
    // not JSON, and that is what the caller is told.
    let err = decode(&topic(TopicKind::Events), br#"{"a":"b"}#{}"#).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Syntax {
                line: 1,
                column: 10,
                ..
            }
        ),
        "{err:?}"
    );
    let canonical = fixture("events", "canonical");
    let mut with_tail = canonical.clone();
    with_tail.extend_from_slice(b" x");
    assert!(
        decode(&topic(TopicKind::Events), &with_tail)
            .unwrap_err()
            .is_syntax()
    );
    let mut with_space = canonical;
    with_space.extend_from_slice(b" \n\t");
    assert!(decode(&topic(TopicKind::Events), &with_space).is_ok());
}

#[test]
fn invalid_utf8_says_where() {
    let mut payload = fixture("events", "canonical");
    let at = payload.iter().position(|&b| b == b'i').unwrap(); // in "in_progress"... or "tid"
    payload[at] = 0xff;
    let err = decode(&topic(TopicKind::Events), &payload).unwrap_err();
    assert_eq!(
        err,
        DecodeError::InvalidUtf8 {
            offset: at,
            line: 1,
            column: at + 1
        }
    );
    assert!(err.is_syntax());
}

#[test]
fn a_payload_over_the_limit_is_refused_before_it_is_read() {
    let payload = vec![b' '; MAX_PAYLOAD_BYTES + 1];
    assert_eq!(
        decode(&topic(TopicKind::Events), &payload),
        Err(DecodeError::TooLarge {
            len: MAX_PAYLOAD_BYTES + 1,
            max: MAX_PAYLOAD_BYTES
        })
    );
}

#[test]
fn errors_are_std_errors_with_messages() {
    fn assert_error<E: std::error::Error + Send + Sync + 'static>(_: &E) {}
    let err = decode(&topic(TopicKind::Events), b"{").unwrap_err();
    assert_error(&err);
    assert!(!err.to_string().is_empty());
    let not_ota = decode("thing/product/SN/osd", b"{}").unwrap_err();
    assert_eq!(not_ota.to_string(), "not an OTA message");
    let hms = decode(
        &topic(TopicKind::Events),
        br#"{"tid":"t","bid":"b","timestamp":1,"method":"hms","data":{}}"#,
    )
    .unwrap_err();
    assert_eq!(hms.to_string(), "not an OTA message (method \"hms\")");
}
