//! Whatever decodes re-encodes, on the same topic, to a payload that decodes to the same
//! message and encodes to itself again; its serde form (with the topic) reads back to
//! the same message.
#![no_main]

use dji_cloud_ota::decode;
use dji_cloud_ota_fuzz::topic_and_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = topic_and_payload(data);
    let Ok(message) = decode(&topic, payload) else {
        return;
    };
    let encoded = message.encode();
    assert_eq!(encoded.topic, topic);
    let again = match decode(&encoded.topic, &encoded.payload) {
        Ok(again) => again,
        Err(e) => panic!(
            "canonical form does not decode: {e}\n{}",
            String::from_utf8_lossy(&encoded.payload)
        ),
    };
    assert_eq!(again, message);
    assert_eq!(again.encode(), encoded);
    let stored = serde_json::to_string(&message).expect("a message serializes");
    let back: dji_cloud_ota::Message = serde_json::from_str(&stored)
        .unwrap_or_else(|e| panic!("serde form does not read back: {e}\n{stored}"));
    assert_eq!(back, message);
});
