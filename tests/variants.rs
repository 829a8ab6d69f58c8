//! One test per documented variant (PROTOCOL.md): each fixture file is a message as some
//! peer or version of the documentation sends it, and decodes to what it means.

mod common;

use common::{GATEWAY, decode_fixture};
use dji_cloud_ota::{
    Data, Message, Method, OtaCreate, OtaProgress, ProgressExt, ResultCode, Step, TaskStatus,
    TopicKind, UpgradeType,
};

fn progress_of(m: &Message) -> &OtaProgress {
    match &m.data {
        Data::OtaProgress(p) => p,
        other => panic!("expected ota_progress, got {other:?}"),
    }
}

fn create_of(m: &Message) -> &OtaCreate {
    match &m.data {
        Data::OtaCreate(c) => c,
        other => panic!("expected ota_create, got {other:?}"),
    }
}

#[test]
fn current_step_is_the_step_key_of_the_current_docs() {
    let m = decode_fixture(TopicKind::Events, "current_step");
    let p = progress_of(&m).output.progress.as_ref().unwrap();
    assert_eq!(
        (p.percent, p.step.clone()),
        (64, Some(Step::UpgradeFirmware))
    );
}

#[test]
fn stauts_is_the_status_key_of_the_seed_table() {
    let m = decode_fixture(TopicKind::Events, "stauts_key");
    assert_eq!(progress_of(&m).output.status, TaskStatus::InProgress);
}

#[test]
fn missing_method_is_told_by_topic_and_shape() {
    let event = decode_fixture(TopicKind::Events, "no_method");
    assert_eq!(event.method(), Method::OtaProgress);
    assert_eq!(event.timestamp, 1_654_070_968_655);

    let create = decode_fixture(TopicKind::Services, "no_method_string_size");
    assert_eq!(create.method(), Method::OtaCreate);

    let reply = decode_fixture(TopicKind::ServicesReply, "no_method");
    assert!(matches!(reply.data, Data::OtaCreateReply(_)));

    let events_reply = decode_fixture(TopicKind::EventsReply, "no_method");
    assert_eq!(
        events_reply.data,
        Data::OtaProgressReply(dji_cloud_ota::EventsReply {
            result: ResultCode::SUCCESS
        })
    );
}

#[test]
fn ext_rate_is_the_download_rate() {
    let m = decode_fixture(TopicKind::Events, "ext_rate");
    assert_eq!(
        progress_of(&m).output.ext,
        Some(ProgressExt {
            rate: Some(1_048_576)
        })
    );
    assert_eq!(m.gateway.as_deref(), Some(GATEWAY));
}

#[test]
fn step_result_of_the_old_chinese_docs_is_kept() {
    let m = decode_fixture(TopicKind::Events, "step_result");
    let event = progress_of(&m);
    assert_eq!(event.result, ResultCode(312_016));
    assert_eq!(
        event.result.description(),
        Some("dock-aircraft transmission error")
    );
    assert_eq!(event.output.status, TaskStatus::Failed);
    assert_eq!(
        event.output.progress.as_ref().unwrap().step_result,
        Some(312_016)
    );
}

#[test]
fn a_clones_sub_status_is_kept_and_its_unknown_keys_ignored() {
    let m = decode_fixture(TopicKind::Events, "clone_sub_status");
    let event = progress_of(&m);
    assert_eq!(event.output.sub_status.as_deref(), Some("DOWNLOAD_FAILED"));
    assert_eq!(event.result, ResultCode(312_003));
}

#[test]
fn failed_with_result_zero_is_still_failed() {
    let m = decode_fixture(TopicKind::Events, "failed_result_zero");
    let event = progress_of(&m);
    assert!(event.result.is_success());
    assert_eq!(event.output.status, TaskStatus::Failed);
    assert!(event.output.status.is_final() && !event.output.status.is_success());
}

#[test]
fn need_reply_as_an_integer_and_as_a_boolean() {
    let int = decode_fixture(TopicKind::Events, "need_reply_int");
    assert_eq!(int.need_reply, Some(true));
    assert!(int.wants_reply());
    let boolean = decode_fixture(TopicKind::Events, "java_nulls_and_bool");
    assert_eq!(boolean.need_reply, Some(true));
    let zero_string = decode_fixture(TopicKind::Events, "string_integers");
    assert_eq!(zero_string.need_reply, Some(false));
    assert!(!zero_string.wants_reply());
    let java_false = decode_fixture(TopicKind::Services, "java_null_file_fields");
    assert_eq!(java_false.need_reply, Some(false));
}

#[test]
fn null_is_an_absent_optional_field() {
    let m = decode_fixture(TopicKind::Events, "java_nulls_and_bool");
    assert_eq!(m.gateway, None);
    let output = &progress_of(&m).output;
    assert_eq!((&output.ext, &output.sub_status), (&None, &None));
    assert_eq!(output.progress.as_ref().unwrap().step_result, None);

    let create = decode_fixture(TopicKind::Services, "java_server");
    assert_eq!((create.gateway.clone(), create.need_reply), (None, None));
    let device = &decode_fixture(TopicKind::Services, "java_null_file_fields");
    let device = &create_of(device).devices[0];
    assert_eq!(
        (
            &device.file_url,
            &device.md5,
            device.file_size,
            &device.file_name
        ),
        (&None, &None, None, &None)
    );
}

#[test]
fn integers_as_decimal_strings() {
    let m = decode_fixture(TopicKind::Events, "string_integers");
    assert_eq!(m.timestamp, 1_700_000_500_000);
    let event = progress_of(&m);
    assert_eq!(event.result, ResultCode::SUCCESS);
    assert_eq!(event.output.progress.as_ref().unwrap().percent, 55);
    assert_eq!(event.output.ext.as_ref().unwrap().rate, Some(524_288));

    let create = decode_fixture(TopicKind::Services, "no_method_string_size");
    let device = &create_of(&create).devices[0];
    assert_eq!(device.file_size, Some(653_467_234));
    assert_eq!(device.firmware_upgrade_type, UpgradeType::CONSISTENCY);

    let reply = decode_fixture(TopicKind::EventsReply, "string_timestamp");
    assert_eq!(reply.timestamp, 1_234_567_890_123);
}

#[test]
fn unknown_status_step_and_keys_are_kept_or_ignored() {
    let m = decode_fixture(TopicKind::Events, "unknown_values");
    let output = &progress_of(&m).output;
    assert!(!output.status.is_known());
    assert_eq!(output.status.as_str(), "queued");
    assert!(!output.status.is_final());
    let step = output.progress.as_ref().unwrap().step.as_ref().unwrap();
    assert_eq!((step.is_known(), step.as_str()), (false, "verify_firmware"));
}

#[test]
fn upgrade_types_of_dock_3_and_beyond() {
    let m = decode_fixture(TopicKind::Services, "dock3_psdk_and_unknown_type");
    let types: Vec<_> = create_of(&m)
        .devices
        .iter()
        .map(|d| d.firmware_upgrade_type)
        .collect();
    assert_eq!(types, [UpgradeType::PSDK, UpgradeType(5)]);
    assert!(!types[1].is_known());
}

#[test]
fn partially_done_of_older_dji_code_is_final() {
    let m = decode_fixture(TopicKind::Events, "partially_done");
    let status = &progress_of(&m).output.status;
    assert_eq!(status, &TaskStatus::PartiallyDone);
    assert!(status.is_final());
}

#[test]
fn sent_without_progress() {
    let m = decode_fixture(TopicKind::Events, "sent_without_progress");
    let output = &progress_of(&m).output;
    assert_eq!(output.status, TaskStatus::Sent);
    assert_eq!(output.progress, None);
}

#[test]
fn refused_create_reply_without_output() {
    let m = decode_fixture(TopicKind::ServicesReply, "refused_without_output");
    let Data::OtaCreateReply(reply) = &m.data else {
        panic!("{:?}", m.data)
    };
    assert_eq!(reply.result, ResultCode(312_015));
    assert_eq!(reply.output, None);
}

#[test]
fn placeholder_ids_are_kept_verbatim() {
    let m = decode_fixture(TopicKind::EventsReply, "string_timestamp");
    assert_eq!(m.tid.to_string(), "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx");
    assert_eq!(m.tid.uuid(), None);
}

#[test]
fn task_status_finality_follows_the_protocol() {
    let final_ones = ["ok", "rejected", "failed", "canceled", "timeout"];
    let open_ones = ["sent", "in_progress", "paused"];
    for s in final_ones {
        assert!(TaskStatus::from(s).is_final(), "{s}");
    }
    for s in open_ones {
        assert!(!TaskStatus::from(s).is_final(), "{s}");
    }
    for s in final_ones.iter().chain(&open_ones) {
        assert!(TaskStatus::from(*s).is_known(), "{s}");
    }
}

#[test]
fn documented_result_codes_are_explained() {
    let documented: Vec<i64> = ResultCode::documented().map(|(c, _)| c.0).collect();
    for code in [
        312001, 312003, 312010, 312012, 312014, 312015, 312016, 312017, 312022, 312023, 312025,
        312026, 312027, 312028, 312029, 312030, 312704, 314000,
    ] {
        assert!(documented.contains(&code), "{code}");
        let rc = ResultCode(code);
        assert!(!rc.is_success());
        assert!(rc.description().is_some());
        assert_eq!(rc.source(), Some(3));
    }
    assert_eq!(ResultCode(312015).module(), Some(12));
    assert_eq!(ResultCode(612015).source(), Some(6));
    assert_eq!(ResultCode(999).module(), None);
    assert_eq!(ResultCode(312999).description(), None);
    assert_eq!(ResultCode(312999).to_string(), "312999");
}

#[test]
fn exactly_the_refusals_that_mean_later_are_transient() {
    // The list: already updating, dock busy, aircraft off, aircraft not in the
    // dock, restarting, battery below 20 %.
    let later = [312014, 312015, 312022, 312027, 312029, 312704];
    for (code, _) in ResultCode::documented() {
        assert_eq!(code.is_transient(), later.contains(&code.0), "{code}");
    }
    for code in [0, 312999, 612015, -1] {
        assert!(!ResultCode(code).is_transient(), "{code}");
    }
}
