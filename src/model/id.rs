//! Transaction and business ids (`tid`, `bid`).

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::model::Text;

/// A `tid` or `bid`.
///
/// The protocol says both are UUIDs, and [`crate::Message::validate`] insists on it, but
/// the published examples use placeholders such as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx`,
/// so decoding keeps any text. Text of the form `8-4-4-4-12` hex digits is a UUID:
/// two such ids are equal when they are the same UUID, whatever the case of their hex
/// digits (UUID text is case-insensitive, RFC 9562), and hash and order alike. Each id
/// keeps the spelling it was read with, for display, encoding and replies. Other text
/// is kept verbatim and compared as text.
///
/// ```
/// use dji_cloud_ota::Id;
///
/// let lower: Id = "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d".parse().unwrap();
/// let upper: Id = "8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D".parse().unwrap();
/// assert_eq!(lower, upper);
/// assert_eq!(upper.to_string(), "8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D");
/// assert_eq!(lower.uuid(), Some(0x8f4c5a6e_2f1b_4c1a_9c1e_3f2d1a0b9c8d));
/// let placeholder: Id = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx".parse().unwrap();
/// assert!(!placeholder.is_uuid());
/// assert_eq!(placeholder.to_string(), "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx");
/// ```
#[derive(Clone)]
pub struct Id(Repr);

/// A UUID written in one case is held as its 16 bytes and that case; anything else,
/// a UUID of mixed case included (rare enough to be parsed again when compared), as
/// its text. Both fit in the size of the text alone.
#[derive(Clone)]
enum Repr {
    Uuid { bytes: [u8; 16], upper: bool },
    Text(Text),
}

/// What an id is compared, hashed and ordered by.
#[derive(PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Identity<'a> {
    Uuid(u128),
    Text(&'a str),
}

impl Id {
    /// What an id is, in an error about something that is not one.
    pub(crate) const EXPECTING: &'static str = "an id (a UUID string)";

    /// A fresh random (version 4) UUID, written in lower case.
    pub fn new_v4() -> Self {
        Self::from_u128(uuid::Uuid::new_v4().as_u128())
    }

    /// The UUID whose 128 bits are `value`, written in lower case.
    pub const fn from_u128(value: u128) -> Self {
        Self(Repr::Uuid {
            bytes: value.to_be_bytes(),
            upper: false,
        })
    }

    /// True when the id is a UUID: `8-4-4-4-12` hex digits of either case.
    pub fn is_uuid(&self) -> bool {
        self.uuid().is_some()
    }

    /// The UUID's 128 bits, if the id is a UUID.
    pub fn uuid(&self) -> Option<u128> {
        match &self.0 {
            Repr::Uuid { bytes, .. } => Some(u128::from_be_bytes(*bytes)),
            Repr::Text(text) => parse_uuid(text).map(|(value, _)| value),
        }
    }

    /// Keeps `text` as the id, exactly as written.
    pub fn from_text(text: &str) -> Self {
        match parse_uuid(text) {
            Some((value, Case::Lower)) => Self::from_u128(value),
            Some((value, Case::Upper)) => Self(Repr::Uuid {
                bytes: value.to_be_bytes(),
                upper: true,
            }),
            Some((_, Case::Mixed)) | None => Self(Repr::Text(Text::new(text))),
        }
    }

    fn identity(&self) -> Identity<'_> {
        match &self.0 {
            Repr::Uuid { bytes, .. } => Identity::Uuid(u128::from_be_bytes(*bytes)),
            Repr::Text(text) => {
                parse_uuid(text).map_or(Identity::Text(text), |(value, _)| Identity::Uuid(value))
            }
        }
    }

    /// The id as written, in `buf` when it is a UUID of one case.
    fn write<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str {
        match &self.0 {
            Repr::Text(text) => text,
            Repr::Uuid { bytes, upper } => {
                let uuid = uuid::Uuid::from_bytes(*bytes).hyphenated();
                if *upper {
                    uuid.encode_upper(buf)
                } else {
                    uuid.encode_lower(buf)
                }
            }
        }
    }
}

/// The case of a UUID's hex letters.
enum Case {
    Lower,
    Upper,
    Mixed,
}

/// The UUID written `8-4-4-4-12` in hex digits of either case, and the case it was
/// written in (digits alone count as lower case).
fn parse_uuid(text: &str) -> Option<(u128, Case)> {
    let b: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    // The 32 digits, eight at a time: 8, 4 + 4, 4 + 4, 8.
    let eight = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let four = |at: usize| u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()));
    let words = [
        eight(0),
        four(9) | four(14) << 32,
        four(19) | four(24) << 32,
        eight(28),
    ];
    let (mut value, mut lower, mut upper) = (0u128, 0, 0);
    for word in words {
        let digits = hex_digits(word)?;
        value = value << 32 | u128::from(digits.value);
        lower |= digits.lower;
        upper |= digits.upper;
    }
    let case = match (lower != 0, upper != 0) {
        (true, true) => Case::Mixed,
        (false, true) => Case::Upper,
        _ => Case::Lower,
    };
    Some((value, case))
}

/// Eight hex digits read at once, each byte of a `u64` a digit (the first digit in the
/// lowest byte): their value, and in which bytes a lower-case or an upper-case letter
/// stands (the byte's high bit).
struct HexDigits {
    value: u32,
    lower: u64,
    upper: u64,
}

/// In every byte of a `u64`: a one, the low four bits, the high bit.
const ONES: u64 = 0x0101_0101_0101_0101;
const LOW: u64 = ONES * 0x0f;
const HIGH: u64 = ONES * 0x80;

/// The eight digits of `word`, if each of its bytes is a hex digit.
fn hex_digits(word: u64) -> Option<HexDigits> {
    if word & HIGH != 0 {
        return None;
    }
    // A byte below 0x80 plus at most 0x50 carries into no other byte.
    let between = |lo: u8, hi: u8| {
        (word + ONES * u64::from(0x80 - lo)) & !(word + ONES * u64::from(0x7f - hi)) & HIGH
    };
    let (digit, lower, upper) = (
        between(b'0', b'9'),
        between(b'a', b'f'),
        between(b'A', b'F'),
    );
    if digit | lower | upper != HIGH {
        return None;
    }
    // A digit's value is its low four bits; a letter's (`a` is 0x61, `A` 0x41) those
    // plus 9.
    let nibbles = (word & LOW) + ((lower | upper) >> 7) * 9;
    // Pairs of nibbles into bytes, then the four bytes together, first digit highest.
    let pairs = (nibbles << 4 | nibbles >> 8) & 0x00ff_00ff_00ff_00ff;
    let pairs = (pairs | pairs >> 8) & 0x0000_ffff_0000_ffff;
    let pairs = (pairs | pairs >> 16) as u32;
    Some(HexDigits {
        value: pairs.swap_bytes(),
        lower,
        upper,
    })
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for Id {}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

/// UUIDs first, by their value; then other ids, by their text.
impl Ord for Id {
    fn cmp(&self, other: &Self) -> Ordering {
        self.identity().cmp(&other.identity())
    }
}

impl PartialOrd for Id {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::str::FromStr for Id {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_text(s))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.write(&mut [0; 36]))
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.write(&mut [0; 36]), f)
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.write(&mut [0; 36]))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = Id;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(Id::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
                Ok(Id::from_text(v))
            }
        }
        deserializer.deserialize_str(IdVisitor)
    }
}

#[cfg(feature = "schemars")]
impl schemars::JsonSchema for Id {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Id".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::rules::schema_part::uuid(
            "A `tid` or `bid`: a UUID, 8-4-4-4-12 hex digits of either case (the crate \
             writes the UUIDs it makes in lower case). The protocol requires UUIDs and \
             `validate()` refuses anything else, as this schema does: `format: uuid` for \
             code generators and validators that assert formats, and a `pattern` for those \
             that treat `format` as an annotation (the draft 2020-12 default). The crate's \
             decoder is more lenient: it keeps any other text verbatim (the published \
             examples use placeholders such as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx`) and \
             re-encodes it unchanged.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_of_either_case_are_one_id_spelled_as_received() {
        let lower = "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d";
        let upper = lower.to_uppercase();
        let mixed = "8f4c5a6e-2F1B-4c1a-9c1e-3f2d1a0b9c8d";
        let ids = [lower, upper.as_str(), mixed].map(Id::from_text);
        for id in &ids {
            assert_eq!(id, &ids[0]);
            assert_eq!(id.uuid(), Some(0x8f4c_5a6e_2f1b_4c1a_9c1e_3f2d_1a0b_9c8d));
        }
        assert_eq!(ids[0].to_string(), lower);
        assert_eq!(ids[1].to_string(), upper);
        assert_eq!(ids[2].to_string(), mixed);
    }

    #[test]
    fn other_text_is_kept_and_not_a_uuid() {
        for text in [
            "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx",
            "8f4c5a6e2f1b4c1a9c1e3f2d1a0b9c8d",
            "8f4c5a6e-2f1b-4c1a-9c1e+3f2d1a0b9c8d",
            "{8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d}",
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8g",
            // 36 bytes, the last two one character.
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c\u{e9}",
        ] {
            let id = Id::from_text(text);
            assert!(!id.is_uuid(), "{text}");
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn every_byte_in_every_place_is_read_as_the_uuid_crate_reads_it() {
        // Each of the 36 places of two UUIDs (one of each case) holds each of the 256
        // byte values in turn; the uuid crate's parser and a plain look at the letters
        // are the reference.
        for base in [
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d",
            "0123ABCD-EF45-6789-ABCD-EF0123456789",
        ] {
            for place in 0..36 {
                for byte in 0..=255u8 {
                    let mut bytes = base.as_bytes().to_vec();
                    bytes[place] = byte;
                    let Ok(text) = std::str::from_utf8(&bytes) else {
                        continue;
                    };
                    let expected = uuid::Uuid::try_parse(text).ok().map(|uuid| {
                        let lower = text.bytes().any(|b| matches!(b, b'a'..=b'f'));
                        let upper = text.bytes().any(|b| matches!(b, b'A'..=b'F'));
                        (uuid.as_u128(), lower, upper)
                    });
                    let read = parse_uuid(text).map(|(value, case)| match case {
                        Case::Lower => (value, text.bytes().any(|b| b.is_ascii_lowercase()), false),
                        Case::Upper => (value, false, true),
                        Case::Mixed => (value, true, true),
                    });
                    assert_eq!(read, expected, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn written_uuids_agree_with_the_uuid_crate() {
        // Every value of every nibble, in either case.
        let mut values = vec![0, u128::MAX, 0x8f4c_5a6e_2f1b_4c1a_9c1e_3f2d_1a0b_9c8d];
        for place in 0..32 {
            values.extend((0..16u128).map(|nibble| nibble << (4 * place)));
        }
        for value in values {
            let text = uuid::Uuid::from_u128(value).hyphenated().to_string();
            assert_eq!(Id::from_u128(value).to_string(), text);
            assert_eq!(Id::from_text(&text).uuid(), Some(value));
            let upper = text.to_uppercase();
            assert_eq!(Id::from_text(&upper).to_string(), upper);
        }
    }
}
