//! proptest strategies for every type of the protocol, for any integration test to use
//! (`mod common;`, then `common::strategies::message(Values::Any)`).
//!
//! They live here, beside the tests, rather than behind a `proptest` feature of the
//! library: they exist to test the crate, so proptest stays out of its public API and
//! its users' dependency trees, and a strategy can change without a release.
//!
//! Each strategy makes the [`Values`] it is asked for: any value the types can hold (for
//! round trips, since decoding does not validate), only values `validate()` accepts, or
//! mostly those and sometimes one that breaks a rule (for the schemas' agreement with
//! `validate()`). The messages are put together in one place, whichever the values.
//!
//! What `Values::Any` covers on purpose: text from the whole Unicode range (control
//! characters, NUL, the edges of the planes, right-to-left marks, ...); unknown enum
//! values, made the only way they can be, by parsing text (`TaskStatus::from`), which
//! also yields the known values when the text spells one; every `i64` as an upgrade
//! type, a result and a percent, every `u64` as a timestamp, size and rate; every
//! optional field present or absent; ids as UUIDs and as any text; `need_reply` absent,
//! true or false.

use dji_cloud_ota::limits::{
    MAX_DEVICES, MAX_PERCENT, MAX_TEXT_CHARS, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS,
};
use dji_cloud_ota::{
    Data, Device, EventsReply, Id, Message, OtaCreate, OtaCreateOutput, OtaCreateReply,
    OtaProgress, Progress, ProgressExt, ProgressOutput, ResultCode, Serial, Step, TaskStatus, Text,
    UpgradeType,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use uuid::Uuid;

/// Which values a strategy makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Values {
    /// Any value the types can hold, valid ones included.
    Any,
    /// Only values `validate()` accepts, its boundaries included.
    Valid,
    /// Values `validate()` accepts three times in four, else one that breaks a rule.
    SometimesInvalid,
}

/// One field's values: `good` ones that `validate()` accepts, `bad` ones that break one
/// of its rules, and `any` others the type can hold.
fn field<T: std::fmt::Debug + 'static>(
    values: Values,
    good: impl Strategy<Value = T> + 'static,
    bad: Vec<BoxedStrategy<T>>,
    any: impl Strategy<Value = T> + 'static,
) -> BoxedStrategy<T> {
    match values {
        Values::Any => prop_oneof![good, any].boxed(),
        Values::Valid => good.boxed(),
        Values::SometimesInvalid => prop_oneof![3 => good, 1 => Union::new(bad)].boxed(),
    }
}

/// Text of up to 32 characters, each any Unicode scalar value.
pub fn text() -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..32).prop_map(String::from_iter)
}

/// `count` times `unit`: a text of exactly `count` characters, more bytes than that.
pub fn long(unit: &str, count: usize) -> String {
    unit.repeat(count)
}

/// A device or gateway serial as text.
pub fn serial_text(values: Values) -> BoxedStrategy<String> {
    let good = prop_oneof![
        8 => "[0-9A-Z]{14,20}",
        1 => "[\\PC&&[^/+#]]{1,12}",
        1 => Just(long("\u{e9}", MAX_TEXT_CHARS)),
    ];
    let bad = vec![
        Just(String::new()).boxed(),
        "[0-9A-Z]{0,6}[/+#\u{0}][0-9A-Z]{0,6}".boxed(),
        Just(long("\u{e9}", MAX_TEXT_CHARS + 1)).boxed(),
    ];
    field(values, good, bad, text())
}

/// The gateway serial of a topic: always topic-safe; valid unless `values` is `Any`.
pub fn serial(values: Values) -> BoxedStrategy<Serial> {
    let values = match values {
        Values::Any => Values::Any,
        Values::Valid | Values::SometimesInvalid => Values::Valid,
    };
    serial_text(values)
        .prop_filter_map("not topic-safe", |t| Serial::new(&t).ok())
        .boxed()
}

/// A `tid` or `bid`: a UUID in either case; or a placeholder, another spelling of a UUID,
/// or any text.
pub fn id(values: Values) -> BoxedStrategy<Id> {
    let text_id = |t: String| Id::from_text(&t);
    let good = prop_oneof![
        4 => any::<u128>().prop_map(Id::from_u128),
        1 => any::<u128>().prop_map(move |n| {
            text_id(Uuid::from_u128(n).hyphenated().to_string().to_uppercase())
        }),
    ];
    let bad = vec![
        Just(text_id("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx".into())).boxed(),
        "[0-9a-fA-Fx-]{30,40}".prop_map(text_id).boxed(),
        any::<u128>()
            .prop_map(move |n| text_id(Uuid::from_u128(n).simple().to_string()))
            .boxed(),
        any::<u128>()
            .prop_map(move |n| text_id(Uuid::from_u128(n).braced().to_string()))
            .boxed(),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n"
            .prop_map(text_id)
            .boxed(),
    ];
    field(values, good, bad, text().prop_map(text_id))
}

/// A timestamp in milliseconds; valid within the limits' years.
pub fn timestamp(values: Values) -> BoxedStrategy<u64> {
    let good = prop_oneof![
        Just(MIN_TIMESTAMP_MS),
        Just(MAX_TIMESTAMP_MS),
        MIN_TIMESTAMP_MS..=MAX_TIMESTAMP_MS,
    ];
    let bad = vec![
        Just(MIN_TIMESTAMP_MS - 1).boxed(),
        Just(MAX_TIMESTAMP_MS + 1).boxed(),
        any::<u64>().boxed(),
    ];
    field(values, good, bad, any::<u64>())
}

/// A `product_version`: dotted numbers when valid.
pub fn version(values: Values) -> BoxedStrategy<String> {
    let good = prop_oneof![
        "[0-9]{1,3}(\\.[0-9]{1,4}){1,3}",
        Just(format!("1.{}", "0".repeat(MAX_TEXT_CHARS - 2))),
    ];
    let bad = vec![
        "[0-9.a-z]{0,8}".boxed(),
        "[0-9]{1,2}\\.[0-9]{1,2}\n".boxed(),
        Just(format!("1.{}", "0".repeat(MAX_TEXT_CHARS - 1))).boxed(),
    ];
    field(values, good, bad, text())
}

/// A `file_url`: http(s) when valid.
pub fn url(values: Values) -> BoxedStrategy<String> {
    let good = prop_oneof![
        "(http|https|HTTPS|Http)://[a-z0-9.-]{1,20}(/[A-Za-z0-9_.%?=&-]{0,20}){0,3}",
        Just(format!("https://{}", "a".repeat(MAX_TEXT_CHARS - 8))),
    ];
    let bad = vec![
        "(ftp|http|https|)(://|:/|//)[a-z/]{0,6}".boxed(),
        "https://[a-z]{1,5}[ \t\n\u{0}\u{7f}\u{85}\u{a0}\u{1680}\u{2028}\u{3000}\u{feff}\u{200b}][a-z]{0,5}"
            .boxed(),
        Just(format!("https://{}", "a".repeat(MAX_TEXT_CHARS - 7))).boxed(),
    ];
    field(values, good, bad, text())
}

/// An `md5`: 32 hex digits when valid.
pub fn md5(values: Values) -> BoxedStrategy<String> {
    let bad = vec!["[0-9a-gx]{0,40}".boxed(), "[0-9a-f]{32}\n".boxed()];
    field(values, "[0-9a-fA-F]{32}", bad, text())
}

/// A file name.
pub fn name(values: Values) -> BoxedStrategy<String> {
    let good = prop_oneof![
        4 => "[a-z0-9_.]{1,20}",
        1 => Just(long("\u{1F600}", MAX_TEXT_CHARS)),
    ];
    let bad = vec![
        Just(String::new()).boxed(),
        Just(long("\u{1F600}", MAX_TEXT_CHARS + 1)).boxed(),
    ];
    field(values, good, bad, text())
}

/// A `file_size`: not zero when valid.
pub fn file_size(values: Values) -> BoxedStrategy<u64> {
    field(values, 1..=u64::MAX, vec![Just(0).boxed()], any::<u64>())
}

/// A known value of an open enum; or one it does not know.
fn open_enum<T: Clone + std::fmt::Debug + 'static>(
    values: Values,
    known: &'static [T],
    unknown: impl Strategy<Value = T> + Clone + 'static,
) -> BoxedStrategy<T> {
    field(
        values,
        select(known),
        vec![unknown.clone().boxed()],
        unknown,
    )
}

/// An upgrade type: known, or any `i64`.
pub fn upgrade_type(values: Values) -> BoxedStrategy<UpgradeType> {
    open_enum(
        values,
        UpgradeType::KNOWN,
        any::<i64>().prop_map(UpgradeType),
    )
}

/// A value of an open string enum: known, or parsed from text (which may spell a known
/// one).
fn open_str_enum<T: Clone + std::fmt::Debug + 'static>(
    values: Values,
    known: &'static [T],
    parse: fn(&str) -> T,
) -> BoxedStrategy<T> {
    let text = match values {
        Values::Any => text().boxed(),
        Values::Valid | Values::SometimesInvalid => "[a-z_]{0,12}".boxed(),
    };
    open_enum(values, known, text.prop_map(move |t| parse(&t)))
}

/// A task status.
pub fn task_status(values: Values) -> BoxedStrategy<TaskStatus> {
    open_str_enum(values, TaskStatus::KNOWN, |t| TaskStatus::from(t))
}

/// A step.
pub fn step(values: Values) -> BoxedStrategy<Step> {
    open_str_enum(values, Step::KNOWN, |t| Step::from(t))
}

/// A `percent`: 0 to 100 when valid.
pub fn percent(values: Values) -> BoxedStrategy<i64> {
    let good = prop_oneof![Just(0), Just(MAX_PERCENT), 0..=MAX_PERCENT];
    let bad = vec![
        Just(-1i64).boxed(),
        Just(MAX_PERCENT + 1).boxed(),
        any::<i64>().boxed(),
    ];
    field(values, good, bad, any::<i64>())
}

/// A result code: success, a documented code, or any `i64` (every one is valid).
pub fn result_code() -> BoxedStrategy<ResultCode> {
    let documented: Vec<ResultCode> = ResultCode::documented().map(|(code, _)| code).collect();
    prop_oneof![
        Just(ResultCode::SUCCESS),
        select(documented),
        any::<i64>().prop_map(ResultCode),
    ]
    .boxed()
}

/// A `sub_status`.
pub fn sub_status(values: Values) -> BoxedStrategy<Text> {
    let good = prop_oneof![
        Just(Text::new("DOWNLOAD_FAILED")),
        Just(Text::new("")),
        Just(Text::new(long("\u{e9}", MAX_TEXT_CHARS))),
    ];
    let bad = vec![Just(Text::new(long("\u{e9}", MAX_TEXT_CHARS + 1))).boxed()];
    field(values, good, bad, text().prop_map(Text::from))
}

/// A device's package: `file_url`, `md5`, `file_size`, `file_name`.
pub type Package = (Option<String>, Option<String>, Option<u64>, Option<String>);

/// A device's package: with valid values, all of it or none; otherwise any of its fields.
pub fn package(values: Values) -> BoxedStrategy<Package> {
    let whole = (url(values), md5(values), file_size(values), name(values));
    if values == Values::Valid {
        return prop_oneof![
            Just((None, None, None, None)),
            whole.prop_map(|(url, md5, size, name)| (Some(url), Some(md5), Some(size), Some(name))),
        ]
        .boxed();
    }
    (whole, any::<[bool; 4]>())
        .prop_map(|((url, md5, size, name), keep)| {
            (
                keep[0].then_some(url),
                keep[1].then_some(md5),
                keep[2].then_some(size),
                keep[3].then_some(name),
            )
        })
        .boxed()
}

/// One item of `data.devices`.
pub fn device(values: Values) -> impl Strategy<Value = Device> {
    (
        serial_text(values),
        version(values),
        package(values),
        upgrade_type(values),
    )
        .prop_map(|(sn, version, (url, md5, size, name), upgrade)| Device {
            sn: sn.into(),
            product_version: version.into(),
            file_url: url.map(Into::into),
            md5: md5.map(Into::into),
            file_size: size,
            file_name: name.map(Into::into),
            firmware_upgrade_type: upgrade,
        })
}

/// `data.devices`: with valid values, one to the limit, with distinct serials; otherwise
/// none to one more than the limit.
pub fn devices(values: Values) -> BoxedStrategy<Vec<Device>> {
    match values {
        Values::Valid => vec(device(values), 1..=MAX_DEVICES)
            .prop_filter("distinct serials", |d| d.len() < 2 || d[0].sn != d[1].sn)
            .boxed(),
        _ => vec(device(values), 0..=MAX_DEVICES + 1).boxed(),
    }
}

/// The data of the reply to `ota_create`, with or without `output`.
pub fn ota_create_reply(values: Values) -> impl Strategy<Value = OtaCreateReply> {
    (result_code(), of(task_status(values))).prop_map(|(result, status)| OtaCreateReply {
        result,
        output: status.map(|status| OtaCreateOutput { status }),
    })
}

/// An `ota_progress` event's data, every optional part present or absent.
pub fn ota_progress(values: Values) -> impl Strategy<Value = OtaProgress> {
    let progress = (percent(values), of(step(values)), of(any::<i64>())).prop_map(
        |(percent, step, step_result)| Progress {
            percent,
            step,
            step_result,
        },
    );
    let ext = of(any::<u64>()).prop_map(|rate| ProgressExt { rate });
    (
        result_code(),
        task_status(values),
        of(progress),
        of(ext),
        of(sub_status(values)),
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
pub fn data(values: Values) -> impl Strategy<Value = Data> {
    prop_oneof![
        devices(values).prop_map(|devices| Data::OtaCreate(OtaCreate { devices })),
        ota_create_reply(values).prop_map(Data::OtaCreateReply),
        ota_progress(values).prop_map(Data::OtaProgress),
        result_code().prop_map(|result| Data::OtaProgressReply(EventsReply { result })),
    ]
}

/// A message of any of the four kinds. Its `gateway`, when present, is often the
/// topic's own serial, and (unless the values are valid) sometimes any other.
pub fn message(values: Values) -> impl Strategy<Value = Message> {
    let gateway = match values {
        Values::Valid => prop_oneof![Just(None), Just(Some(None))].boxed(),
        _ => of(of(serial_text(values))).boxed(),
    };
    (
        (serial(values), id(values), id(values), timestamp(values)),
        (gateway, of(any::<bool>()), data(values)),
    )
        .prop_map(|((sn, tid, bid, timestamp), (gateway, need_reply, data))| {
            // `Some(None)`: the gateway field names the topic's own gateway.
            let gateway = gateway.map(|g| Text::new(g.unwrap_or_else(|| sn.to_string())));
            Message {
                sn,
                tid,
                bid,
                timestamp,
                gateway,
                need_reply,
                data,
            }
        })
}
