//! Open string enums: known values are variants, any other value is kept as it came.

use std::fmt;

use crate::model::Text;

/// A value an open enum ([`crate::TaskStatus`], [`crate::Step`]) does not know, kept
/// verbatim so that it re-encodes unchanged.
///
/// It can only be made by parsing text that matches no known value (`"partially_done"`
/// is known to [`crate::TaskStatus`], `"queued"` is not), so every value has exactly one
/// representation and `decode(encode(m)) == m` holds for unknown values too.
///
/// ```
/// use dji_cloud_ota::TaskStatus;
///
/// let status: TaskStatus = "queued".parse().unwrap();
/// let TaskStatus::Unknown(value) = &status else { unreachable!() };
/// assert_eq!(value.as_str(), "queued");
/// assert_eq!(status.to_string(), "queued");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnknownValue(pub(crate) Text);

impl UnknownValue {
    /// The value as it came on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Written as the text it came as. It is read only as part of its enum, which decides
/// whether a value is known.
impl serde::Serialize for UnknownValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl fmt::Debug for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Defines an open string enum: its variants with their wire spelling and meaning, an
/// `Unknown` variant, `as_str`, `description`, `From<&str>`, `FromStr`, `Display`, serde
/// that reads known values without allocating, and (feature `schemars`) a JSON Schema
/// that lists the known values with their meaning and allows any other string.
///
/// The enum is not `#[non_exhaustive]`: its `Unknown` variant is where values the crate
/// does not know go, so a match over every variant is possible.
///
/// The first doc line is the schema's summary; `schema_note = path;` after the enum names
/// a `fn(&Self) -> Option<&'static str>` whose note is added to a known value's meaning
/// in the schema. `codes = [N => Variant, ...];` lists integer codes that peers write for
/// known values as JSON numbers; with it, any other integer is kept as an unknown value
/// of its decimal text; without it, a number is refused. Text is always read as text:
/// `"1"` is an unknown value, as it was written.
macro_rules! open_str_enum {
    (
        #[doc = $summary:literal]
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal => $meaning:literal, )+
        }
        $( schema_note = $note:path; )?
        $( codes = [$($code:literal => $cvariant:ident),+ $(,)?]; )?
    ) => {
        #[doc = $summary]
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know; it re-encodes unchanged.
            Unknown($crate::model::UnknownValue),
        }

        impl $name {
            /// Every known value, in the protocol's order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(unknown) => unknown.as_str(),
                }
            }

            /// What the value means, in English, if the crate knows it.
            pub fn description(&self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($meaning), )+
                    $name::Unknown(_) => None,
                }
            }

            /// False for an [`Unknown`](Self::Unknown) value.
            pub fn is_known(&self) -> bool {
                !matches!(self, $name::Unknown(_))
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown($crate::model::UnknownValue(other.into())),
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(text))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $name {
            /// The integer codes peers write for known values, if any.
            const CODES: &'static [(i64, $name)] = &[$($(($code, $name::$cvariant)),+)?];

            /// The value of an integer code: a known one, or an unknown value of its
            /// decimal text; `None` when this enum has no codes.
            fn from_code(code: impl Into<i128>) -> Option<Self> {
                let code = code.into();
                (!Self::CODES.is_empty()).then(|| {
                    Self::CODES
                        .iter()
                        .find(|(c, _)| i128::from(*c) == code)
                        .map_or_else(
                            || $name::Unknown($crate::model::UnknownValue(
                                $crate::model::Text::from_display(code),
                            )),
                            |(_, known)| known.clone(),
                        )
                })
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a string (", $($wire, ", ",)+ "or a newer value)"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::from_code(v).ok_or_else(|| {
                            E::invalid_type(serde::de::Unexpected::Signed(v), &self)
                        })
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        $name::from_code(v).ok_or_else(|| {
                            E::invalid_type(serde::de::Unexpected::Unsigned(v), &self)
                        })
                    }
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<$name, E> {
                        // A whole number written as a float (`1.0`) is that code.
                        let whole = v.fract() == 0.0
                            && v.abs() <= $crate::rules::limits::MAX_INTEGRAL_FLOAT;
                        #[allow(clippy::cast_possible_truncation)]
                        whole
                            .then(|| $name::from_code(v as i64))
                            .flatten()
                            .ok_or_else(|| E::invalid_type(serde::de::Unexpected::Float(v), &self))
                    }
                }
                d.deserialize_any(V)
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let notes: &[fn(&$name) -> Option<&'static str>] = &[$($note)?];
                $crate::rules::schema_part::open_enum(
                    generator,
                    stringify!($name),
                    $summary.trim(),
                    serde_json::json!({ "type": "string" }),
                    Self::KNOWN.iter().map(|value| {
                        let meaning = value.description().unwrap_or_default();
                        let text = match notes.iter().find_map(|note| note(value)) {
                            Some(note) => format!("{meaning}; {note}"),
                            None => meaning.to_owned(),
                        };
                        (value.as_str().into(), text)
                    }),
                    $crate::rules::schema_part::UNKNOWN_REFUSED,
                )
            }
        }
    };
}

pub(crate) use open_str_enum;
