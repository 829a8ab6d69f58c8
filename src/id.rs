//! Transaction and business ids (`tid`, `bid`).

use std::fmt;

use compact_str::CompactString;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use uuid::Uuid;

/// A `tid` or `bid`.
///
/// The protocol says both are UUIDs, and [`crate::Message::validate`] insists on it, but
/// the published examples use placeholders such as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx`,
/// so decoding keeps any text. A UUID in its canonical spelling (36 characters,
/// lower-case, hyphenated) is held as a [`Uuid`]; anything else is kept verbatim and
/// re-encodes exactly as it came.
///
/// ```
/// use dji_cloud_ota::Id;
/// use uuid::Uuid;
///
/// let id: Id = "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d".parse().unwrap();
/// assert!(id.as_uuid().is_some());
/// let placeholder: Id = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx".parse().unwrap();
/// assert_eq!(placeholder.as_uuid(), None);
/// assert_eq!(placeholder.to_string(), "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxx");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Id(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    Uuid(Uuid),
    Text(CompactString),
}

impl Id {
    /// A fresh random (version 4) UUID.
    pub fn new_v4() -> Self {
        Self(Repr::Uuid(Uuid::new_v4()))
    }

    /// The id as a UUID: canonical spelling, or any other hyphenated 36-character
    /// spelling `uuid` accepts (upper-case hex, say).
    pub fn as_uuid(&self) -> Option<Uuid> {
        match &self.0 {
            Repr::Uuid(uuid) => Some(*uuid),
            Repr::Text(text) if text.len() == 36 => Uuid::try_parse(text).ok(),
            Repr::Text(_) => None,
        }
    }

    /// Keeps `text` as the id, exactly as written.
    pub fn from_text(text: &str) -> Self {
        match parse_canonical_uuid(text) {
            Some(uuid) => Self(Repr::Uuid(uuid)),
            None => Self(Repr::Text(CompactString::new(text))),
        }
    }

    fn write<'a>(&'a self, buf: &'a mut [u8; 36]) -> &'a str {
        match &self.0 {
            Repr::Uuid(uuid) => uuid.hyphenated().encode_lower(buf),
            Repr::Text(text) => text,
        }
    }
}

/// The UUID written `8-4-4-4-12` in lower-case hex: the one spelling a [`Uuid`] encodes
/// back to, so that holding it as a `Uuid` changes nothing.
fn parse_canonical_uuid(text: &str) -> Option<Uuid> {
    /// Where each byte's two hex digits start in `8-4-4-4-12`.
    const DIGITS_AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    let b: &[u8; 36] = text.as_bytes().try_into().ok()?;
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let mut bytes = [0u8; 16];
    let mut invalid = 0;
    for (byte, at) in bytes.iter_mut().zip(DIGITS_AT) {
        let (high, low) = (
            LOWER_HEX[usize::from(b[at])],
            LOWER_HEX[usize::from(b[at + 1])],
        );
        invalid |= high | low;
        *byte = (high << 4) | low;
    }
    (invalid & 0xf0 == 0).then(|| Uuid::from_bytes(bytes))
}

/// The value of each lower-case hex digit; 0xff for every other byte.
const LOWER_HEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

impl From<Uuid> for Id {
    fn from(uuid: Uuid) -> Self {
        Self(Repr::Uuid(uuid))
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
                f.write_str("an id (a UUID string)")
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
        crate::json_schema::uuid(
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
    fn canonical_uuid_is_held_as_uuid_and_others_verbatim() {
        let lower = "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d";
        assert!(matches!(Id::from_text(lower).0, Repr::Uuid(_)));
        let upper = lower.to_uppercase();
        let id = Id::from_text(&upper);
        assert!(matches!(id.0, Repr::Text(_)));
        assert_eq!(id.to_string(), upper);
        assert_eq!(id.as_uuid(), Some(Uuid::parse_str(lower).unwrap()));
        assert_eq!(Id::from_text(&lower.replace('-', "")).as_uuid(), None);
    }

    #[test]
    fn canonical_parse_agrees_with_the_uuid_crate() {
        for text in [
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8d",
        ] {
            assert_eq!(parse_canonical_uuid(text), Uuid::try_parse(text).ok());
            assert_eq!(Id::from_text(text).to_string(), text);
        }
        for text in [
            "8f4c5a6e-2f1b-4c1a-9c1e-3f2d1a0b9c8g",
            "8f4c5a6e-2f1b-4c1a-9c1e+3f2d1a0b9c8d",
            "8f4c5a6e2f1b-4c1a-9c1e-3f2d1a0b9c8d0",
            "8F4C5A6E-2F1B-4C1A-9C1E-3F2D1A0B9C8D",
        ] {
            assert_eq!(parse_canonical_uuid(text), None, "{text}");
        }
    }
}
