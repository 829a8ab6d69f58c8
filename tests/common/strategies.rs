//! proptest strategies for every type of the protocol, for any integration test to use
//! (`mod common;`, then `common::strategies::message()`).
//!
//! They live here, beside the tests, rather than behind a `proptest` feature of the
//! library: they exist to test the crate, so proptest stays out of its public API and
//! its users' dependency trees, and a strategy can change without a release.
//!
//! What they cover on purpose: text from the whole Unicode range (control characters,
//! NUL, the edges of the planes, right-to-left marks, ...); unknown enum values, made
//! the only way they can be, by parsing text (`TaskStatus::from`), which also yields the
//! known values when the text spells one; every `i64` as an upgrade type, a result and a
//! percent, every `u64` as a timestamp, size and rate; every optional field present or
//! absent; ids as UUIDs and as any text; `need_reply` absent, true or false.

use dji_cloud_ota::{
    CompactString, Data, Device, EventsReply, Id, Message, OtaCreate, OtaCreateOutput,
    OtaCreateReply, OtaProgress, Progress, ProgressExt, ProgressOutput, ResultCode, Serial, Step,
    TaskStatus, UpgradeType, Uuid,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;

/// Text of up to 32 characters, each any Unicode scalar value.
pub fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..32).prop_map(String::from_iter)
}

/// A gateway serial: a realistic one, or any topic-safe text.
pub fn serial() -> BoxedStrategy<Serial> {
    let realistic = vec(
        select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()),
        14..=20,
    )
    .prop_map(|bytes| Serial::new(std::str::from_utf8(&bytes).unwrap()).unwrap());
    let any_safe = text().prop_filter_map("not topic-safe", |t| Serial::new(&t).ok());
    prop_oneof![realistic, any_safe].boxed()
}

/// A `tid` or `bid`: a UUID, a UUID spelled in capitals, or any text.
pub fn id() -> BoxedStrategy<Id> {
    prop_oneof![
        any::<u128>().prop_map(|n| Id::from(Uuid::from_u128(n))),
        any::<u128>().prop_map(|n| Id::from_text(&Uuid::from_u128(n).to_string().to_uppercase())),
        text().prop_map(|t| Id::from_text(&t)),
    ]
    .boxed()
}

/// A task status: known, or any text (which may spell a known one).
pub fn task_status() -> BoxedStrategy<TaskStatus> {
    prop_oneof![
        select(TaskStatus::KNOWN.to_vec()),
        text().prop_map(|t| TaskStatus::from(t.as_str())),
    ]
    .boxed()
}

/// A step: known, or any text.
pub fn step() -> BoxedStrategy<Step> {
    prop_oneof![
        select(Step::KNOWN.to_vec()),
        text().prop_map(|t| Step::from(t.as_str())),
    ]
    .boxed()
}

/// An upgrade type: known, or any `i64`.
pub fn upgrade_type() -> BoxedStrategy<UpgradeType> {
    prop_oneof![
        select(UpgradeType::KNOWN.to_vec()),
        any::<i64>().prop_map(UpgradeType),
    ]
    .boxed()
}

/// A result code: success, a documented code, or any `i64`.
pub fn result_code() -> BoxedStrategy<ResultCode> {
    let documented: Vec<ResultCode> = ResultCode::documented().map(|(code, _)| code).collect();
    prop_oneof![
        Just(ResultCode::SUCCESS),
        select(documented),
        any::<i64>().prop_map(ResultCode),
    ]
    .boxed()
}

/// One item of `data.devices`, every optional field present or absent.
pub fn device() -> impl Strategy<Value = Device> {
    (
        (text(), text(), of(text()), of(text())),
        (of(any::<u64>()), of(text()), upgrade_type()),
    )
        .prop_map(
            |((sn, product_version, file_url, md5), (file_size, file_name, upgrade))| Device {
                sn: sn.into(),
                product_version: product_version.into(),
                file_url: file_url.map(Into::into),
                md5: md5.map(Into::into),
                file_size,
                file_name: file_name.map(Into::into),
                firmware_upgrade_type: upgrade,
            },
        )
}

/// An `ota_create` request's data: zero to three devices (beyond the protocol's limits
/// too: decoding does not validate).
pub fn ota_create() -> impl Strategy<Value = OtaCreate> {
    vec(device(), 0..=3).prop_map(|devices| OtaCreate { devices })
}

/// The data of the reply to `ota_create`, with or without `output`.
pub fn ota_create_reply() -> impl Strategy<Value = OtaCreateReply> {
    (result_code(), of(task_status())).prop_map(|(result, status)| OtaCreateReply {
        result,
        output: status.map(|status| OtaCreateOutput { status }),
    })
}

/// An `ota_progress` event's data, every optional part present or absent.
pub fn ota_progress() -> impl Strategy<Value = OtaProgress> {
    let progress =
        (any::<i64>(), of(step()), of(any::<i64>())).prop_map(|(percent, step, step_result)| {
            Progress {
                percent,
                step,
                step_result,
            }
        });
    let ext = of(any::<u64>()).prop_map(|rate| ProgressExt { rate });
    (
        result_code(),
        task_status(),
        of(progress),
        of(ext),
        of(text().prop_map(CompactString::from)),
    )
        .prop_map(|(result, status, progress, ext, sub_status)| OtaProgress {
            result,
            output: ProgressOutput {
                status,
                progress,
                ext,
                sub_status,
            },
        })
}

/// The data of any of the four messages.
pub fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        ota_create().prop_map(Data::OtaCreate),
        ota_create_reply().prop_map(Data::OtaCreateReply),
        ota_progress().prop_map(Data::OtaProgress),
        result_code().prop_map(|result| Data::OtaProgressReply(EventsReply { result })),
    ]
}

/// Any message of the four kinds.
pub fn message() -> impl Strategy<Value = Message> {
    (
        (serial(), id(), id(), any::<u64>()),
        (
            of(text().prop_map(CompactString::from)),
            of(any::<bool>()),
            data(),
        ),
    )
        .prop_map(
            |((sn, tid, bid, timestamp), (gateway, need_reply, data))| Message {
                sn,
                tid,
                bid,
                timestamp,
                gateway,
                need_reply,
                data,
            },
        )
}
