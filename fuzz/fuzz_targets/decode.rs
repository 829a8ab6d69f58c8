//! `decode` on any topic and payload: it returns, never panics, and its error says what
//! the limits module promises. What it returns is what the payload holds: its canonical
//! encoding decodes to the same message. `decode_state` likewise, on the same input.
#![no_main]

use dji_cloud_ota::limits::MAX_PAYLOAD_BYTES;
use dji_cloud_ota::{DecodeError, Topic, TopicError, decode, decode_state};
use dji_cloud_ota_fuzz::topic_and_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = topic_and_payload(data);
    let result = decode(&topic, payload);
    match &result {
        Ok(message) => assert_eq!(message.topic().to_string(), topic),
        Err(e) => {
            // Every error has a message, and says which kind it is.
            assert!(!e.to_string().is_empty());
            let kinds = [e.is_not_ota(), e.is_syntax(), e.is_data()];
            assert!(kinds.iter().filter(|&&k| k).count() <= 1, "{e:?}");
        }
    }
    match Topic::parse(&topic) {
        Err(TopicError::NotOta) => assert_eq!(result, Err(DecodeError::NotOta { method: None })),
        Err(e) => assert_eq!(result, Err(DecodeError::Topic(e))),
        Ok(_) if payload.len() > MAX_PAYLOAD_BYTES => assert!(
            matches!(result, Err(DecodeError::TooLarge { .. })),
            "{result:?}"
        ),
        Ok(_) if std::str::from_utf8(payload).is_err() => assert!(
            matches!(result, Err(DecodeError::InvalidUtf8 { .. })),
            "{result:?}"
        ),
        Ok(_) => {}
    }

    // A state push: the same promises, and its canonical form reads back equal.
    let state = decode_state(&topic, payload);
    match &state {
        Ok(push) => {
            let encoded = push.encode();
            assert_eq!(encoded.topic, topic);
            assert_eq!(
                decode_state(&encoded.topic, &encoded.payload).as_ref(),
                Ok(push),
                "the canonical form decodes to another push: {}",
                String::from_utf8_lossy(&encoded.payload)
            );
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }

    if let Ok(message) = &result {
        let encoded = message.encode();
        assert_eq!(
            decode(&encoded.topic, &encoded.payload).as_ref(),
            Ok(message),
            "the canonical form decodes to another message: {}",
            String::from_utf8_lossy(&encoded.payload)
        );
    }
});
