//! Open string enums: known values are variants, any other value is kept as it came.

use std::fmt;

use compact_str::CompactString;

/// A value an open enum does not know, kept verbatim so that it re-encodes unchanged.
///
/// It can only be made by parsing text that matches no known value (`"partially_done"`
/// is known to [`crate::TaskStatus`], `"queued"` is not), so every value has exactly one
/// representation and `decode(encode(m)) == m` holds for unknown values too.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Unknown(pub(crate) CompactString);

impl Unknown {
    /// The value as it came on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// Defines an open string enum: its variants with their wire spelling and meaning, an
/// `Unknown` variant, `as_str`, `description`, `From<&str>`, `FromStr`, `Display`, serde
/// that reads known values without allocating, and (feature `schemars`) a JSON Schema
/// that lists the known values with their meaning and allows any other string.
///
/// The first doc line is the schema's summary; `schema_note = path;` after the enum names
/// a `fn(&Self) -> Option<&'static str>` whose note is added to a known value's meaning
/// in the schema.
macro_rules! open_str_enum {
    (
        #[doc = $summary:literal]
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal => $meaning:literal, )+
        }
        $( schema_note = $note:path; )?
    ) => {
        #[doc = $summary]
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of the crate does not know; it re-encodes unchanged.
            Unknown($crate::open_enum::Unknown),
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
                    other => $name::Unknown($crate::open_enum::Unknown(other.into())),
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

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a string (", $($wire, " ",)+ "or a newer value)"))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::from(v))
                    }
                }
                d.deserialize_str(V)
            }
        }

        #[cfg(feature = "schemars")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let notes: &[fn(&$name) -> Option<&'static str>] = &[$($note)?];
                $crate::json_schema::open_enum(
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
                    $crate::json_schema::UNKNOWN_REFUSED,
                )
            }
        }
    };
}

pub(crate) use open_str_enum;
