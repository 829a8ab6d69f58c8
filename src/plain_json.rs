//! A serde `Deserializer` for plain JSON, the full decoder's first reading.
//!
//! It reads, with the fast path's [`Cursor`], the JSON that real peers send: strings
//! without escapes, integers in JSON's own form, `true`, `false`, `null`, objects and
//! arrays. The types' own derived `Deserialize` impls run on top of it, so every
//! tolerated spelling (aliases, integers as strings, `null`s) is read exactly as on
//! serde_json. Anything else (an escape, a fraction or exponent, `-0`, an integer beyond
//! 64 bits, deep nesting, any error at all) makes it give up, and the decoder reads the
//! payload again with serde_json, which gives the answer and any error its position.
//!
//! What it accepts, serde_json accepts too, and hands the types the same values: the
//! same visitor calls (`visit_u64` for a non-negative integer, `visit_i64` for a
//! negative one, `visit_borrowed_str` for a string). A differential test and the
//! `decode` fuzz target hold the two readings to the same answer.

use std::fmt;

use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::cursor::Cursor;
use crate::object::MapOnly;

/// Reads `T` from `text` (top level: an object only), or `None` where serde_json has to.
pub(crate) fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    let mut reader = Reader {
        c: Cursor::new(text),
        depth: 0,
    };
    let value = T::deserialize(MapOnly(&mut reader)).ok()?;
    reader.c.end()?;
    Some(value)
}

/// Deeper objects and arrays are left to serde_json (which has its own limit): only
/// values nobody reads can nest at all here, in an unknown key.
const MAX_DEPTH: u32 = 32;

struct Reader<'de> {
    c: Cursor<'de>,
    depth: u32,
}

/// The reader gave up; serde_json reads the payload instead.
#[derive(Debug)]
pub(crate) struct GaveUp;

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not plain JSON of the expected shape")
    }
}

impl std::error::Error for GaveUp {}

impl de::Error for GaveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GaveUp
    }
}

impl<'de> Reader<'de> {
    /// `word` (`true`, `false`, `null`) at the cursor.
    fn literal(&mut self, word: &[u8]) -> Result<(), GaveUp> {
        let rest = &self.c.bytes[self.c.at..];
        if !rest.starts_with(word) {
            return Err(GaveUp);
        }
        self.c.at += word.len();
        Ok(())
    }

    fn enter(&mut self) -> Result<(), GaveUp> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(GaveUp);
        }
        Ok(())
    }

    fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, GaveUp> {
        self.c.eat(b'{').ok_or(GaveUp)?;
        self.enter()?;
        let mut entries = Entries {
            r: self,
            first: true,
            done: false,
        };
        let value = visitor.visit_map(&mut entries)?;
        // The visitor reads every entry; one that stops early leaves the map to serde_json.
        if !entries.done {
            return Err(GaveUp);
        }
        self.depth -= 1;
        Ok(value)
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, GaveUp> {
        self.c.eat(b'[').ok_or(GaveUp)?;
        self.enter()?;
        let mut elements = Elements {
            r: self,
            first: true,
            done: false,
        };
        let value = visitor.visit_seq(&mut elements)?;
        if !elements.done {
            return Err(GaveUp);
        }
        self.depth -= 1;
        Ok(value)
    }

    /// An integer in JSON's own form: `-` only before a digit, no leading zero, no
    /// fraction or exponent; `-0` and integers beyond 64 bits, which serde_json reads
    /// as floats, give up.
    fn integer<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, GaveUp> {
        if self.c.bytes.get(self.c.at) != Some(&b'-') {
            return visitor.visit_u64(self.c.u64().ok_or(GaveUp)?);
        }
        self.c.at += 1;
        // `Cursor::u64` skips whitespace first; JSON allows none after the sign.
        if !self.c.bytes.get(self.c.at).is_some_and(u8::is_ascii_digit) {
            return Err(GaveUp);
        }
        let magnitude = self.c.u64().ok_or(GaveUp)?;
        match 0i64.checked_sub_unsigned(magnitude) {
            Some(value) if magnitude != 0 => visitor.visit_i64(value),
            _ => Err(GaveUp),
        }
    }
}

impl<'de> Deserializer<'de> for &mut Reader<'de> {
    type Error = GaveUp;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.c.peek().ok_or(GaveUp)? {
            b'{' => self.map(visitor),
            b'[' => self.seq(visitor),
            b'"' => visitor.visit_borrowed_str(self.c.str().ok_or(GaveUp)?),
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            b'-' | b'0'..=b'9' => self.integer(visitor),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        if self.c.peek() == Some(b'n') {
            self.literal(b"null")?;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        if self.c.peek() != Some(b'"') {
            return Err(GaveUp);
        }
        visitor.visit_borrowed_str(self.c.str().ok_or(GaveUp)?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.deserialize_str(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        self.map(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.seq(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char bytes byte_buf unit unit_struct
        tuple tuple_struct ignored_any
    }
}

/// The entries of an object being read.
struct Entries<'r, 'de> {
    r: &'r mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> MapAccess<'de> for &mut Entries<'_, 'de> {
    type Error = GaveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GaveUp> {
        let c = &mut self.r.c;
        match c.peek().ok_or(GaveUp)? {
            b'}' => {
                c.at += 1;
                self.done = true;
                return Ok(None);
            }
            b',' if !self.first => c.at += 1,
            _ if self.first => {}
            _ => return Err(GaveUp),
        }
        self.first = false;
        if c.peek() != Some(b'"') {
            return Err(GaveUp);
        }
        let key = c.str().ok_or(GaveUp)?;
        c.eat(b':').ok_or(GaveUp)?;
        seed.deserialize(BorrowedStrDeserializer::<GaveUp>::new(key))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, GaveUp> {
        seed.deserialize(&mut *self.r)
    }
}

/// The elements of an array being read.
struct Elements<'r, 'de> {
    r: &'r mut Reader<'de>,
    first: bool,
    done: bool,
}

impl<'de> SeqAccess<'de> for &mut Elements<'_, 'de> {
    type Error = GaveUp;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, GaveUp> {
        let c = &mut self.r.c;
        match c.peek().ok_or(GaveUp)? {
            b']' => {
                c.at += 1;
                self.done = true;
                return Ok(None);
            }
            b',' if !self.first => c.at += 1,
            _ if self.first => {}
            _ => return Err(GaveUp),
        }
        self.first = false;
        seed.deserialize(&mut *self.r).map(Some)
    }
}
