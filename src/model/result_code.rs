//! The `result` code of replies and events.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `result` of a reply or event: `0` on success, otherwise an error code.
///
/// A device error code has six digits `ABCDEF`: `A` is the source (3 or 5 the device,
/// 4 or 6 DJI Pilot 2), `BC` the module (12 is firmware) and `DEF` the error. Codes
/// the crate does not know are kept as they are.
///
/// ```
/// use dji_cloud_ota::ResultCode;
///
/// assert!(ResultCode::SUCCESS.is_success());
/// let busy = ResultCode(312015);
/// assert_eq!(busy.module(), Some(12));
/// assert_eq!(busy.description(), Some("the dock is busy"));
/// assert_eq!(busy.to_string(), "312015");
/// assert_eq!("312015".parse(), Ok(busy));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResultCode(pub i64);

/// Whether a refusal of `ota_create` means "later": the dock or its aircraft cannot
/// take an upgrade now, and the same request can succeed once it can.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    Later,
    No,
}

/// The firmware codes DJI documents, with their meaning and whether they mean "later".
/// The one table of them.
const FIRMWARE_CODES: &[(i64, &str, Retry)] = &[
    (
        312001,
        "upgrade type mismatch: a consistency upgrade the device did not ask for",
        Retry::No,
    ),
    (312003, "upgrade failed; retry", Retry::No),
    (312010, "the request differs from the API", Retry::No),
    (312012, "bad parameters", Retry::No),
    (312014, "the device is already updating", Retry::Later),
    (312015, "the dock is busy", Retry::Later),
    (312016, "dock-aircraft transmission error", Retry::No),
    (312017, "version check failed", Retry::No),
    (
        312022,
        "the aircraft is not powered on or not connected",
        Retry::Later,
    ),
    (312023, "the driving rods are not back in place", Retry::No),
    (312025, "failed to delete the old package", Retry::No),
    (
        312026,
        "failed to decompress the offline package",
        Retry::No,
    ),
    (312027, "no aircraft detected in the dock", Retry::Later),
    (312028, "the device restarted during the update", Retry::No),
    (312029, "the device is restarting", Retry::Later),
    (312030, "enhanced (4G) transmission is enabled", Retry::No),
    (312704, "battery below 20%", Retry::Later),
    (314000, "generic device error", Retry::No),
];

impl ResultCode {
    /// `0`: success.
    pub const SUCCESS: ResultCode = ResultCode(0);

    /// True for the refusals that mean "try again later": the device is already
    /// updating (`312014`), the dock is busy (`312015`), the aircraft is off
    /// (`312022`) or not in the dock (`312027`), the device is restarting (`312029`),
    /// the battery is below 20 % (`312704`). A fleet rollout retries these after a
    /// delay instead of failing the device.
    ///
    /// ```
    /// use dji_cloud_ota::ResultCode;
    ///
    /// assert!(ResultCode(312015).is_transient());
    /// assert!(!ResultCode(312003).is_transient()); // upgrade failed
    /// assert!(!ResultCode::SUCCESS.is_transient());
    /// ```
    pub fn is_transient(self) -> bool {
        self.documented_as()
            .is_some_and(|(_, retry)| retry == Retry::Later)
    }

    /// True for `0`.
    pub const fn is_success(self) -> bool {
        self.0 == 0
    }

    /// The English meaning of a documented code (and of `0`).
    pub fn description(self) -> Option<&'static str> {
        if self.is_success() {
            return Some("success");
        }
        self.documented_as().map(|(text, _)| text)
    }

    /// The code's row in [`FIRMWARE_CODES`].
    fn documented_as(self) -> Option<(&'static str, Retry)> {
        FIRMWARE_CODES
            .iter()
            .find(|(code, ..)| *code == self.0)
            .map(|(_, text, retry)| (*text, *retry))
    }

    /// Every documented firmware code with its meaning.
    pub fn documented() -> impl Iterator<Item = (ResultCode, &'static str)> {
        FIRMWARE_CODES
            .iter()
            .map(|(code, text, _)| (ResultCode(*code), *text))
    }

    /// The source digit `A` of a six-digit code: 3 or 5 the device, 4 or 6 DJI Pilot 2.
    pub const fn source(self) -> Option<u8> {
        match self.digits() {
            Some(d) => Some((d / 100_000) as u8),
            None => None,
        }
    }

    /// The module digits `BC` of a six-digit code: 12 is firmware.
    pub const fn module(self) -> Option<u8> {
        match self.digits() {
            Some(d) => Some((d / 1000 % 100) as u8),
            None => None,
        }
    }

    const fn digits(self) -> Option<i64> {
        if self.0 >= 100_000 && self.0 <= 999_999 {
            Some(self.0)
        } else {
            None
        }
    }
}

/// The wire value: `312015`. [`ResultCode::description`] says what it means.
impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The code written in decimal, documented or not.
impl std::str::FromStr for ResultCode {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(Self)
    }
}

impl From<i64> for ResultCode {
    fn from(code: i64) -> Self {
        Self(code)
    }
}

impl Serialize for ResultCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> Deserialize<'de> for ResultCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::rules::spelling::int(d).map(ResultCode)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for ResultCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ResultCode".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let known = std::iter::once((ResultCode::SUCCESS, "success")).chain(Self::documented());
        crate::rules::schema_part::open_enum(
            generator,
            "ResultCode",
            "`result`: `0` on success, otherwise an error code. A device error code has six \
             digits `ABCDEF`: `A` is the source (3 or 5 the device, 4 or 6 DJI Pilot 2), \
             `BC` the module (12 is firmware) and `DEF` the error. The firmware codes DJI \
             documents are listed.",
            serde_json::json!({ "type": "integer" }),
            known.map(|(code, meaning)| (code.0.into(), meaning.to_owned())),
            "A code this version of the crate does not document; it keeps it as it is.",
        )
    }
}
