//! The JSON writer behind [`crate::Message::encode`]: compact JSON from serde's data
//! model, the same bytes `serde_json::to_writer` writes for the crate's types, a few
//! times faster on string text (plain runs are found eight bytes at a time, see
//! `crate::json_string`).
//!
//! It writes what the crate's types are made of: structs, sequences, options, strings,
//! booleans and integers, plus unit and newtype variants. Anything else (floats, byte
//! arrays, maps, tuple and struct variants) is refused with [`Unsupported`] rather than
//! written differently from serde_json; a differential test against serde_json over
//! every fixture and generated messages holds the two to the same bytes.

use std::fmt;

use serde::Serialize;
use serde::ser::{self, Impossible, SerializeSeq, SerializeStruct};

use crate::json_string::write_quoted;

/// Appends `value` as compact JSON to `out`.
///
/// # Errors
/// [`Unsupported`] for a part of serde's data model the crate's types do not use. `out`
/// then holds part of the value.
pub(crate) fn write<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), Unsupported> {
    value.serialize(Writer { out })
}

/// A value this writer does not write (the crate's types have none), or an error a
/// type's own `Serialize` raised.
#[derive(Debug)]
pub(crate) struct Unsupported(String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(format!(
        "the canonical JSON writer does not write {what}"
    )))
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn integer(self, value: impl itoa::Integer) -> Result<(), Unsupported> {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
        Ok(())
    }

    fn raw(self, text: &[u8]) -> Result<(), Unsupported> {
        self.out.extend_from_slice(text);
        Ok(())
    }
}

/// An array or object being written: whether an element has been written yet.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl Compound<'_> {
    fn separate(&mut self) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
    }
}

/// The integer methods: decimal digits, as serde_json writes them.
macro_rules! integers {
    ($($method:ident: $t:ty),*) => {
        $(
            fn $method(self, v: $t) -> Result<(), Unsupported> {
                self.integer(v)
            }
        )*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Impossible<(), Unsupported>;
    type SerializeMap = Impossible<(), Unsupported>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Impossible<(), Unsupported>;

    fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
        self.raw(if v { b"true" } else { b"false" })
    }

    integers!(
        serialize_i8: i8,
        serialize_i16: i16,
        serialize_i32: i32,
        serialize_i64: i64,
        serialize_i128: i128,
        serialize_u8: u8,
        serialize_u16: u16,
        serialize_u32: u32,
        serialize_u64: u64,
        serialize_u128: u128
    );

    fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
        unsupported("a float")
    }

    fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
        unsupported("a float")
    }

    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        write_quoted(self.out, v);
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
        unsupported("bytes")
    }

    fn serialize_none(self) -> Result<(), Unsupported> {
        self.raw(b"null")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Unsupported> {
        self.raw(b"null")
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
        self.raw(b"null")
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.out.push(b'{');
        write_quoted(self.out, variant);
        self.out.push(b':');
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push(b'}');
        Ok(())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
        self.out.push(b'[');
        Ok(Compound {
            out: self.out,
            empty: true,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("a tuple variant")
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        unsupported("a map")
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
        self.out.push(b'{');
        Ok(Compound {
            out: self.out,
            empty: true,
        })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("a struct variant")
    }
}

impl SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        self.separate();
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Unsupported> {
        SerializeSeq::end(self)
    }
}

impl SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Unsupported;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.separate();
        write_quoted(self.out, key);
        self.out.push(b':');
        value.serialize(Writer {
            out: &mut *self.out,
        })
    }

    fn end(self) -> Result<(), Unsupported> {
        self.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every part of the data model the writer takes, against serde_json.
    #[test]
    fn writes_what_serde_json_writes() {
        #[derive(Serialize)]
        struct Unit;
        #[derive(Serialize)]
        struct Newtype(u8);
        #[derive(Serialize)]
        struct Pair(i8, &'static str);
        #[derive(Serialize)]
        enum Kind {
            Plain,
            Wrapped(u16),
        }
        #[derive(Serialize)]
        struct Everything {
            yes: bool,
            no: bool,
            small: (i8, i16, i32, i64, i128),
            big: (u8, u16, u32, u64, u128),
            extremes: (i64, u64, i128, u128),
            letter: char,
            quote: char,
            text: &'static str,
            none: Option<u8>,
            some: Option<Option<u8>>,
            unit: (),
            unit_struct: Unit,
            newtype: Newtype,
            pair: Pair,
            kinds: Vec<Kind>,
            empty: Vec<u8>,
            #[serde(skip_serializing_if = "Option::is_none")]
            skipped: Option<u8>,
            nested: Vec<Vec<Option<&'static str>>>,
        }
        let value = Everything {
            yes: true,
            no: false,
            small: (-1, -300, -70_000, -5_000_000_000, -1),
            big: (255, 65_535, 4_000_000_000, 0, 1),
            extremes: (i64::MIN, u64::MAX, i128::MIN, u128::MAX),
            letter: 'é',
            quote: '"',
            text: "a\u{0}b\u{1f}c\\d\"e\u{7f}f\u{2028}",
            none: None,
            some: Some(None),
            unit: (),
            unit_struct: Unit,
            newtype: Newtype(7),
            pair: Pair(-2, "two"),
            kinds: vec![Kind::Plain, Kind::Wrapped(3)],
            empty: vec![],
            skipped: None,
            nested: vec![vec![], vec![None, Some("x")]],
        };
        let mut out = Vec::new();
        write(&value, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }

    #[test]
    fn refuses_what_it_does_not_write() {
        let mut out = Vec::new();
        assert!(write(&1.5_f64, &mut out).is_err());
        assert!(write(&std::collections::BTreeMap::from([("k", 1)]), &mut out).is_err());
        assert!(write(serde_bytes_like(), &mut out).is_err());
        let error = write(&(1, 2.5_f32), &mut out).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the canonical JSON writer does not write a float"
        );
    }

    /// A value that serializes as serde's bytes.
    fn serde_bytes_like() -> &'static impl Serialize {
        struct Bytes;
        impl Serialize for Bytes {
            fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(b"ab")
            }
        }
        &Bytes
    }
}
