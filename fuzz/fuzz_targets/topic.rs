//! Topic parsing and the topic builder on any text: a parsed topic prints back as it
//! came, and a serial is accepted exactly when it is topic-safe.
#![no_main]

use dji_cloud_ota::{Serial, Topic, TopicKind, check_serial};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(topic) = Topic::parse(text) {
        assert_eq!(topic.to_string(), text);
        assert!(check_serial(topic.sn.as_str()).is_ok());
        assert_eq!(text.parse::<Topic>(), Ok(topic));
    }
    let safe = !text.is_empty() && !text.contains(['/', '+', '#', '\0']);
    match Serial::new(text) {
        Ok(serial) => {
            assert!(safe, "{text:?} accepted");
            assert_eq!(serial.as_str(), text);
            for kind in TopicKind::ALL {
                let topic = Topic::new(serial.clone(), kind);
                assert_eq!(Topic::parse(&topic.to_string()), Ok(topic));
            }
        }
        Err(e) => {
            assert!(!safe, "{text:?} refused");
            assert!(!e.to_string().is_empty());
        }
    }
});
