//! The tolerated spellings of values, one helper per quirk.
//!
//! Each helper reads every spelling that real peers or the published documentation
//! use; the matching serializer writes the one canonical spelling:
//!
//! | quirk | who writes it | helper |
//! |---|---|---|
//! | an integer as a decimal string (`"1654070968655"`) | JavaScript peers, the `events_reply` example | [`int`], [`opt_int`] |
//! | an integer as an integral float (`10.0`, `1e1`, `-0`) | Python's `json.dumps` of a float | [`int`], [`opt_int`] |
//! | `need_reply` as `true`/`false` or `"0"`/`"1"` | Java (Jackson) and JavaScript peers | [`opt_flag`] |
//! | `null` for an absent field | Java (Jackson) peers | `Option`'s own deserializer, [`opt_int`], [`opt_flag`] |
//! | a 0/1 state property (`compatible_status`) as `true`/`false` | Java peers (DJI's server reads it as a boolean) | [`int_or_flag`] |
//!
//! Key-name quirks are `serde(alias)` attributes on the fields they concern:
//! `"timestamp:"` (the envelope, `model/message.rs`), `stauts` and `current_step`
//! (`model/ota_progress.rs`). The step's numeric codes (`1`, `2`, from DJI's Java SDK)
//! are values of `Step` and read by it (`model/ota_progress.rs`).

use std::fmt;
use std::marker::PhantomData;

use serde::Serializer;
use serde::de::{self, Deserializer, Visitor};

use crate::rules::limits::MAX_INTEGRAL_FLOAT;

/// An integer type that the wire may carry as a JSON number or a decimal string.
pub(crate) trait WireInt: Sized + Copy {
    /// How the expected value is described in an error.
    const EXPECTING: &'static str;
    fn from_u64(v: u64) -> Option<Self>;
    fn from_i64(v: i64) -> Option<Self>;
    /// True when the whole number `v` lies in the type's range.
    fn holds(v: f64) -> bool;
    /// The whole number `v`, which [`Self::holds`] and the float limit allow.
    fn from_f64(v: f64) -> Self;
}

/// Why a decimal string is not an integer of the expected type.
#[derive(Debug, PartialEq)]
enum NotDecimal {
    /// Not an optional `-` and digits.
    Malformed,
    /// Digits, but a value beyond the type's range.
    OutOfRange,
}

impl WireInt for u64 {
    const EXPECTING: &'static str =
        "a non-negative integer (a JSON number or a decimal string) up to 18446744073709551615";
    fn from_u64(v: u64) -> Option<Self> {
        Some(v)
    }
    fn from_i64(v: i64) -> Option<Self> {
        u64::try_from(v).ok()
    }
    fn holds(v: f64) -> bool {
        (0.0..18_446_744_073_709_551_616.0).contains(&v)
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    fn from_f64(v: f64) -> Self {
        // Whole, non-negative (`-0` is 0) and at most 2^53: exact.
        v as u64
    }
}

impl WireInt for i64 {
    const EXPECTING: &'static str =
        "an integer (a JSON number or a decimal string) in the range of a 64-bit signed integer";
    fn from_u64(v: u64) -> Option<Self> {
        i64::try_from(v).ok()
    }
    fn from_i64(v: i64) -> Option<Self> {
        Some(v)
    }
    fn holds(v: f64) -> bool {
        // Open at both ends: serde_json rounds `-9223372036854775809` to -2^63.
        v > -9_223_372_036_854_775_808.0 && v < 9_223_372_036_854_775_808.0
    }
    #[allow(clippy::cast_possible_truncation)]
    fn from_f64(v: f64) -> Self {
        // Whole and at most 2^53 in magnitude: exact.
        v as i64
    }
}

/// Parses a decimal string: an optional `-` then ASCII digits, nothing else (no `+`,
/// no spaces, no exponent). JavaScript peers send numbers this way.
fn parse_decimal<T: WireInt>(text: &str) -> Result<T, NotDecimal> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() {
        return Err(NotDecimal::Malformed);
    }
    // One pass: accumulate the magnitude and refuse any non-digit; an overflow is kept
    // until every byte is known to be a digit, so that `99999999999999999999x` is
    // malformed rather than out of range.
    let mut magnitude: Option<u64> = Some(0);
    for b in digits.bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return Err(NotDecimal::Malformed);
        }
        magnitude = magnitude.and_then(|m| m.checked_mul(10)?.checked_add(u64::from(digit)));
    }
    let magnitude = magnitude.ok_or(NotDecimal::OutOfRange)?;
    let value = if negative {
        // `-0` is zero; i64::MIN's magnitude is one more than i64::MAX.
        0i64.checked_sub_unsigned(magnitude).and_then(T::from_i64)
    } else {
        T::from_u64(magnitude)
    };
    value.ok_or(NotDecimal::OutOfRange)
}

/// The error for a value that is an integer but does not fit the field's type: never
/// wrapped, truncated or saturated.
fn out_of_range<E: de::Error>(value: impl fmt::Display, expecting: &str) -> E {
    E::custom(format_args!("{value} out of range: expected {expecting}"))
}

struct IntVisitor<T>(PhantomData<T>);

impl<T: WireInt> Visitor<'_> for IntVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::from_u64(v).ok_or_else(|| out_of_range(de::Unexpected::Unsigned(v), T::EXPECTING))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::from_i64(v).ok_or_else(|| out_of_range(de::Unexpected::Signed(v), T::EXPECTING))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        // serde_json hands over as floats the numbers written with a fraction or an
        // exponent, `-0`, and the integers too large for 64 bits. A whole one is that
        // integer (Python writes `10.0`), up to the float limit, where floats stop
        // holding every integer; beyond it, or outside the type's range, it is out of
        // range. A fraction is not an integer.
        if !v.is_finite() || v.fract() != 0.0 {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        } else if T::holds(v) && v.abs() <= MAX_INTEGRAL_FLOAT {
            Ok(T::from_f64(v))
        } else {
            Err(out_of_range(format_args!("number `{v:e}`"), T::EXPECTING))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        parse_decimal(v).map_err(|e| match e {
            NotDecimal::OutOfRange => out_of_range(de::Unexpected::Str(v), T::EXPECTING),
            NotDecimal::Malformed => E::invalid_value(de::Unexpected::Str(v), &self),
        })
    }
}

/// A required integer, as a number or a decimal string.
pub(crate) fn int<'de, D: Deserializer<'de>, T: WireInt>(d: D) -> Result<T, D::Error> {
    d.deserialize_any(IntVisitor(PhantomData))
}

/// An optional integer: absent (with `#[serde(default)]`), `null`, a number or a decimal
/// string.
pub(crate) fn opt_int<'de, D: Deserializer<'de>, T: WireInt>(d: D) -> Result<Option<T>, D::Error> {
    struct OptVisitor<T>(PhantomData<T>);
    impl<'de, T: WireInt> Visitor<'de> for OptVisitor<T> {
        type Value = Option<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "null or {}", T::EXPECTING)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            int(d).map(Some)
        }
    }
    d.deserialize_option(OptVisitor(PhantomData))
}

/// An integer as [`int`] reads it, or a boolean for 1 (`true`) and 0 (`false`): the 0/1
/// properties of a state push, which Java peers write as booleans.
pub(crate) fn int_or_flag<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct IntOrFlag;
    impl Visitor<'_> for IntOrFlag {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{}, or true or false", i64::EXPECTING)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<i64, E> {
            Ok(i64::from(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            IntVisitor::<i64>(PhantomData).visit_u64(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            IntVisitor::<i64>(PhantomData).visit_i64(v)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            IntVisitor::<i64>(PhantomData).visit_f64(v)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            IntVisitor::<i64>(PhantomData).visit_str(v)
        }
    }
    d.deserialize_any(IntOrFlag)
}

/// An integer read by [`int`], for `next_value` where no field attribute applies.
pub(crate) struct Int<T>(pub(crate) T);

impl<'de, T: WireInt> serde::Deserialize<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        int(d).map(Int)
    }
}

/// A flag read by [`opt_flag`], for `next_value` where no field attribute applies.
pub(crate) struct OptFlag(pub(crate) Option<bool>);

impl<'de> serde::Deserialize<'de> for OptFlag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        opt_flag(d).map(OptFlag)
    }
}

/// `need_reply`: `0`/`1` as the protocol says, `true`/`false` as Java (Jackson) peers
/// send it, `"0"`/`"1"` from JavaScript peers, or `null`.
pub(crate) fn opt_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    struct FlagVisitor;
    impl<'de> Visitor<'de> for FlagVisitor {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("0, 1, true, false or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            match v {
                0 => Ok(Some(false)),
                1 => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
            }
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
            }
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            match v {
                "0" => Ok(Some(false)),
                "1" => Ok(Some(true)),
                _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
            }
        }
    }
    d.deserialize_option(FlagVisitor)
}

/// Writes a flag the canonical way: `0` or `1`.
pub(crate) fn ser_opt_flag<S: Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(flag) => s.serialize_u8(u8::from(*flag)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_are_strict() {
        assert_eq!(parse_decimal::<u64>("1654070968655"), Ok(1_654_070_968_655));
        assert_eq!(parse_decimal::<i64>("-312015"), Ok(-312_015));
        assert_eq!(parse_decimal::<i64>("-0"), Ok(0));
        assert_eq!(parse_decimal::<i64>("-9223372036854775808"), Ok(i64::MIN));
        for bad in ["", "-", "+1", " 1", "1 ", "1e3", "0x10", "1.0", "--1"] {
            assert_eq!(
                parse_decimal::<i64>(bad),
                Err(NotDecimal::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(parse_decimal::<u64>("-1"), Err(NotDecimal::OutOfRange));
        assert_eq!(
            parse_decimal::<u64>("18446744073709551616"),
            Err(NotDecimal::OutOfRange)
        );
        assert_eq!(
            parse_decimal::<i64>("-9223372036854775809"),
            Err(NotDecimal::OutOfRange)
        );
        assert_eq!(
            parse_decimal::<u64>("99999999999999999999x"),
            Err(NotDecimal::Malformed)
        );
    }
}
