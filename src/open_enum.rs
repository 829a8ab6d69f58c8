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
/// `Unknown` variant, `as_str`, `description`, `From<&str>`, `FromStr`, `Display` and serde
/// that reads known values without allocating.
macro_rules! open_str_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal => $meaning:literal, )+
        }
    ) => {
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
    };
}

pub(crate) use open_str_enum;
