//! The seed document's three examples, verbatim (tabs, `"timestamp:"`, placeholder ids):
//! they decode to what the page says, and do not validate, for the reasons the page's
//! placeholders give.

mod common;

use common::{GATEWAY, decode_fixture};
use dji_cloud_ota::{
    Data, Device, Method, Problem, ResultCode, Step, TaskStatus, TopicKind, UpgradeType,
};

const PLACEHOLDER: &str = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx";

#[test]
fn seed_ota_progress_event_decodes() {
    let m = decode_fixture(TopicKind::Events, "seed_ota_progress");
    assert_eq!(m.sn.as_str(), GATEWAY);
    assert_eq!(m.method(), Method::OtaProgress);
    assert_eq!(m.tid.to_string(), PLACEHOLDER);
    assert_eq!(m.bid.to_string(), PLACEHOLDER);
    assert_eq!(m.timestamp, 1_654_070_968_655);
    assert_eq!((m.gateway.as_deref(), m.need_reply), (None, None));
    let Data::OtaProgress(event) = &m.data else {
        panic!("expected ota_progress, got {:?}", m.data)
    };
    assert_eq!(event.result, ResultCode::SUCCESS);
    assert_eq!(event.output.status, TaskStatus::InProgress);
    let progress = event.output.progress.as_ref().expect("progress");
    assert_eq!(progress.percent, 10);
    assert_eq!(progress.step, Some(Step::DownloadFirmware));
    assert_eq!(event.output.ext, None);
}

#[test]
fn seed_ota_create_request_decodes() {
    let m = decode_fixture(TopicKind::Services, "seed_ota_create");
    assert_eq!(m.method(), Method::OtaCreate);
    assert_eq!(m.timestamp, 1_654_070_968_655);
    let Data::OtaCreate(create) = &m.data else {
        panic!("expected ota_create, got {:?}", m.data)
    };
    let drone = Device::new("drone_sn", "1.00.223", UpgradeType::CONSISTENCY).with_file(
        "https://s3.com/xxx.zip",
        "abcdefabcdefabcdef",
        653_467_234,
        "wm245_1.00.223.zip",
    );
    let dock = Device::new("dock_sn", "1.00.223", UpgradeType::NORMAL);
    assert_eq!(create.devices, vec![drone, dock]);
}

#[test]
fn seed_ota_create_reply_decodes() {
    let m = decode_fixture(TopicKind::ServicesReply, "seed_ota_create_reply");
    assert_eq!(m.method(), Method::OtaCreate);
    let Data::OtaCreateReply(reply) = &m.data else {
        panic!("expected ota_create reply, got {:?}", m.data)
    };
    assert!(reply.result.is_success());
    assert_eq!(
        reply.output.as_ref().map(|o| &o.status),
        Some(&TaskStatus::InProgress)
    );
}

#[test]
fn seed_examples_do_not_validate_because_of_their_placeholders() {
    for (kind, name) in [
        (TopicKind::Events, "seed_ota_progress"),
        (TopicKind::Services, "seed_ota_create"),
        (TopicKind::ServicesReply, "seed_ota_create_reply"),
    ] {
        let errors = decode_fixture(kind, name).validate().unwrap_err();
        let mut paths: Vec<&str> = errors.violations.iter().map(|v| v.path.as_str()).collect();
        let mut expected = vec!["tid", "bid"];
        if kind == TopicKind::Services {
            // md5 "abcdefabcdefabcdef" is 18 hex digits, not 32.
            expected.push("data.devices[0].md5");
        }
        paths.sort_unstable();
        expected.sort_unstable();
        assert_eq!(paths, expected, "{name}: {errors}");
        for v in &errors.violations {
            match v.path.as_str() {
                "tid" | "bid" => assert_eq!(
                    v.problem,
                    Problem::NotUuid {
                        value: PLACEHOLDER.into()
                    }
                ),
                _ => assert_eq!(
                    v.problem,
                    Problem::NotMd5 {
                        value: "abcdefabcdefabcdef".into()
                    }
                ),
            }
        }
    }
}
