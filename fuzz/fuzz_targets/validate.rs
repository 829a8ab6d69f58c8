//! `Message::validate` on whatever decodes: it returns, never panics, reports every
//! violation with a path, and a valid message stays valid through its canonical form.
#![no_main]

use dji_cloud_ota::decode;
use dji_cloud_ota_fuzz::topic_and_payload;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = topic_and_payload(data);
    let Ok(message) = decode(&topic, payload) else {
        return;
    };
    match message.validate() {
        Ok(()) => {
            let encoded = message.encode();
            let again = decode(&encoded.topic, &encoded.payload).expect("canonical form decodes");
            assert_eq!(again.validate(), Ok(()));
        }
        Err(errors) => {
            assert!(!errors.violations.is_empty());
            for violation in &errors.violations {
                assert!(!violation.path.is_empty());
                assert!(!violation.to_string().is_empty());
            }
            assert!(!errors.to_string().is_empty());
        }
    }
});
