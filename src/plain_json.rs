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
//! What it accepts, serde_json accepts too, and hands the types the same values through
//! the same visitor calls: `visit_u64` for a non-negative integer, `visit_i64` for a
//! negative one, `visit_borrowed_str` for a string, `visit_unit` for `null` and for an
//! ignored value, and a typed request (`deserialize_bool`, `deserialize_u64`, ...) only
//! on a token of that type. What serde_json reads in its own way (128-bit integers,
//! floats, bytes, enums, and map keys read as anything but text) it leaves to
//! serde_json. Its unit tests, the differential tests (`tests/fast_path.rs`) and the
//! `decode` fuzz target hold the two readings to the same answer.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::cursor::Cursor;
use crate::object::MapOnly;

/// Reads `T` from `text` (top level: an object only), or `None` where serde_json has to.
pub(crate) fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    from_str_seed(text, PhantomData::<T>)
}

/// [`from_str`] for a seed.
fn from_str_seed<'de, S: DeserializeSeed<'de>>(text: &'de str, seed: S) -> Option<S::Value> {
    let mut reader = Reader {
        c: Cursor::new(text),
        depth: 0,
    };
    let value = seed.deserialize(MapOnly(&mut reader)).ok()?;
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

    /// An object or array: `open`, the items the visitor reads, and `close`, which it
    /// must have read up to.
    fn items<T>(
        &mut self,
        open: u8,
        close: u8,
        visit: impl FnOnce(&mut Items<'_, 'de>) -> Result<T, GaveUp>,
    ) -> Result<T, GaveUp> {
        self.c.eat(open).ok_or(GaveUp)?;
        self.enter()?;
        let mut items = Items {
            r: self,
            close,
            first: true,
            done: false,
        };
        let value = visit(&mut items)?;
        // The visitor reads every item; one that stops early leaves the value to serde_json.
        if !items.done {
            return Err(GaveUp);
        }
        self.depth -= 1;
        Ok(value)
    }

    fn map<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, GaveUp> {
        self.items(b'{', b'}', |entries| visitor.visit_map(entries))
    }

    fn seq<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, GaveUp> {
        self.items(b'[', b']', |elements| visitor.visit_seq(elements))
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

/// Integer methods that read as `deserialize_i64` does: the visitor gets `visit_u64` or
/// `visit_i64`, as from serde_json, and converts.
macro_rules! integers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
                self.deserialize_i64(visitor)
            }
        )*
    };
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

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.c.peek() {
            Some(b't' | b'f') => self.deserialize_any(visitor),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        match self.c.peek() {
            Some(b'-' | b'0'..=b'9') => self.integer(visitor),
            _ => Err(GaveUp),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        if self.c.peek() != Some(b'n') {
            return Err(GaveUp);
        }
        self.literal(b"null")?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.deserialize_str(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, GaveUp> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, GaveUp> {
        self.seq(visitor)
    }

    /// The value is read through, then the visitor told of nothing, as serde_json does.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, GaveUp> {
        self.deserialize_any(de::IgnoredAny)?;
        visitor.visit_unit()
    }

    // serde_json reads these its own way (128-bit integers whole, floats, bytes from
    // strings, enums); they are left to it.
    fn deserialize_i128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
        Err(GaveUp)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, GaveUp> {
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

    integers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64);
}

/// The entries of an object or the elements of an array, being read.
struct Items<'r, 'de> {
    r: &'r mut Reader<'de>,
    close: u8,
    first: bool,
    done: bool,
}

impl Items<'_, '_> {
    /// Past the comma before the next item, if there is one; `false` past the closing
    /// bracket.
    fn next(&mut self) -> Result<bool, GaveUp> {
        let c = &mut self.r.c;
        match c.peek().ok_or(GaveUp)? {
            b if b == self.close => {
                c.at += 1;
                self.done = true;
                return Ok(false);
            }
            b',' if !self.first => c.at += 1,
            _ if self.first => {}
            _ => return Err(GaveUp),
        }
        self.first = false;
        Ok(true)
    }
}

impl<'de> MapAccess<'de> for &mut Items<'_, 'de> {
    type Error = GaveUp;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, GaveUp> {
        if !self.next()? {
            return Ok(None);
        }
        let c = &mut self.r.c;
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

impl<'de> SeqAccess<'de> for &mut Items<'_, 'de> {
    type Error = GaveUp;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, GaveUp> {
        if !self.next()? {
            return Ok(None);
        }
        seed.deserialize(&mut *self.r).map(Some)
    }
}

#[cfg(test)]
mod tests {
    //! The reader against serde_json on JSON alone, apart from the crate's types: every
    //! visitor call recorded, for every way a type can ask for a value.

    use super::*;

    /// How a value is asked for.
    #[derive(Debug, Clone, Copy)]
    enum Ask {
        Any,
        Bool,
        I64,
        U8,
        U64,
        U128,
        F64,
        Unit,
        Option,
        Str,
        Char,
        Bytes,
        Seq,
        Tuple,
        Map,
        Identifier,
        IgnoredAny,
    }

    const ASKS: [Ask; 17] = [
        Ask::Any,
        Ask::Bool,
        Ask::I64,
        Ask::U8,
        Ask::U64,
        Ask::U128,
        Ask::F64,
        Ask::Unit,
        Ask::Option,
        Ask::Str,
        Ask::Char,
        Ask::Bytes,
        Ask::Seq,
        Ask::Tuple,
        Ask::Map,
        Ask::Identifier,
        Ask::IgnoredAny,
    ];

    /// A visitor that accepts everything and writes down what it was called with.
    struct Record;

    /// A value read with `deserialize_any` and recorded.
    struct Recorded(String);

    impl<'de> Deserialize<'de> for Recorded {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(Record).map(Recorded)
        }
    }

    impl<'de> Visitor<'de> for Record {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_bool<E>(self, v: bool) -> Result<String, E> {
            Ok(format!("bool {v}"))
        }
        fn visit_i64<E>(self, v: i64) -> Result<String, E> {
            Ok(format!("i64 {v}"))
        }
        fn visit_u64<E>(self, v: u64) -> Result<String, E> {
            Ok(format!("u64 {v}"))
        }
        fn visit_u128<E>(self, v: u128) -> Result<String, E> {
            Ok(format!("u128 {v}"))
        }
        fn visit_f64<E>(self, v: f64) -> Result<String, E> {
            Ok(format!("f64 {v}"))
        }
        fn visit_str<E>(self, v: &str) -> Result<String, E> {
            Ok(format!("str {v:?}"))
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<String, E> {
            Ok(format!("borrowed str {v:?}"))
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<String, E> {
            Ok(format!("bytes {v:?}"))
        }
        fn visit_unit<E>(self) -> Result<String, E> {
            Ok("unit".into())
        }
        fn visit_none<E>(self) -> Result<String, E> {
            Ok("none".into())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            Ok(format!("some({})", Recorded::deserialize(d)?.0))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
            let mut out = String::from("[");
            while let Some(Recorded(item)) = seq.next_element()? {
                out += &item;
                out += ";";
            }
            Ok(out + "]")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
            let mut out = String::from("{");
            while let Some((Recorded(k), Recorded(v))) = map.next_entry()? {
                out += &format!("{k}: {v};");
            }
            Ok(out + "}")
        }
    }

    /// Reads a value the way `.0` says, with [`Record`].
    struct AskSeed(Ask);

    impl<'de> DeserializeSeed<'de> for AskSeed {
        type Value = String;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            match self.0 {
                Ask::Any => d.deserialize_any(Record),
                Ask::Bool => d.deserialize_bool(Record),
                Ask::I64 => d.deserialize_i64(Record),
                Ask::U8 => d.deserialize_u8(Record),
                Ask::U64 => d.deserialize_u64(Record),
                Ask::U128 => d.deserialize_u128(Record),
                Ask::F64 => d.deserialize_f64(Record),
                Ask::Unit => d.deserialize_unit(Record),
                Ask::Option => d.deserialize_option(Record),
                Ask::Str => d.deserialize_str(Record),
                Ask::Char => d.deserialize_char(Record),
                Ask::Bytes => d.deserialize_bytes(Record),
                Ask::Seq => d.deserialize_seq(Record),
                Ask::Tuple => d.deserialize_tuple(2, Record),
                Ask::Map => d.deserialize_map(Record),
                Ask::Identifier => d.deserialize_identifier(Record),
                Ask::IgnoredAny => d.deserialize_ignored_any(Record),
            }
        }
    }

    /// An object whose values are all asked for as `.0` says.
    struct Object(Ask);

    impl<'de> DeserializeSeed<'de> for Object {
        type Value = String;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
            struct Entries(Ask);
            impl<'de> Visitor<'de> for Entries {
                type Value = String;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
                    let mut out = String::new();
                    while let Some(Recorded(key)) = map.next_key()? {
                        out += &format!("{key}: {};", map.next_value_seed(AskSeed(self.0))?);
                    }
                    Ok(out)
                }
            }
            d.deserialize_map(Entries(self.0))
        }
    }

    fn by_serde_json(text: &str, ask: Ask) -> Option<String> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = Object(ask).deserialize(MapOnly(&mut de)).ok()?;
        de.end().ok()?;
        Some(value)
    }

    const VALUES: &[&str] = &[
        "0",
        "5",
        "-5",
        "-0",
        "01",
        "-01",
        "- 1",
        "1.5",
        "1e2",
        "1E2",
        "2.",
        "-",
        "18446744073709551615",
        "18446744073709551616",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "true",
        "false",
        "null",
        "tru",
        "nul",
        "nulll",
        "True",
        r#""s""#,
        r#""""#,
        r#""\n""#,
        r#""\u00e9""#,
        "\"\u{e9}\"",
        "\"\u{1}\"",
        "\"\u{7f}\u{2028}\"",
        r#""ab"#,
        r#""x""#,
        "[]",
        "[1]",
        r#"[1,"a",null]"#,
        "[1,]",
        "[,1]",
        "[1 2]",
        "{}",
        r#"{"k":[{}]}"#,
        r#"{"k":1,}"#,
        r#"{"k" 1}"#,
        r#"{1:2}"#,
        r#"{"k":1,"k":2}"#,
        "[[[[]]]]",
        " 7 ",
        "\t7\n",
        "\u{a0}7",
    ];

    #[test]
    fn accepts_only_what_serde_json_reads_the_same_way() {
        let mut accepted = 0;
        for ask in ASKS {
            for value in VALUES {
                for text in [
                    format!(r#"{{"v":{value}}}"#),
                    format!("{{ \"v\" :{value} }} "),
                ] {
                    let plain = from_str_seed(&text, Object(ask));
                    if let Some(plain) = &plain {
                        accepted += 1;
                        assert_eq!(
                            Some(plain),
                            by_serde_json(&text, ask).as_ref(),
                            "{ask:?} on {text}"
                        );
                    }
                }
            }
        }
        // It is used: most plain values, asked for the way their type is, are read.
        assert!(accepted > 150, "{accepted}");
    }

    #[test]
    fn reads_plain_values_and_refuses_other_types() {
        let read = |ask, value: &str| from_str_seed(&format!(r#"{{"v":{value}}}"#), Object(ask));
        let expect = |ask, value: &str, recorded: &str| {
            assert_eq!(
                read(ask, value).as_deref(),
                Some(recorded),
                "{ask:?} {value}"
            )
        };
        expect(Ask::Any, "5", "borrowed str \"v\": u64 5;");
        expect(Ask::Any, "-5", "borrowed str \"v\": i64 -5;");
        expect(Ask::U64, "-5", "borrowed str \"v\": i64 -5;");
        expect(Ask::Option, "null", "borrowed str \"v\": none;");
        expect(Ask::Option, "5", "borrowed str \"v\": some(u64 5);");
        expect(Ask::IgnoredAny, r#"{"k":[1]}"#, "borrowed str \"v\": unit;");
        expect(
            Ask::Str,
            r#""s""#,
            "borrowed str \"v\": borrowed str \"s\";",
        );
        for (ask, value) in [
            (Ask::U64, r#""5""#),
            (Ask::Bool, "5"),
            (Ask::Bool, "null"),
            (Ask::Unit, "false"),
            (Ask::Str, "5"),
            (Ask::Bytes, r#""s""#),
            (Ask::U128, "5"),
            (Ask::F64, "5"),
            (Ask::Any, "-0"),
            (Ask::Any, r#""\n""#),
        ] {
            assert_eq!(read(ask, value), None, "{ask:?} {value}");
        }
    }

    #[test]
    fn gives_up_on_deep_nesting_without_overflowing_the_stack() {
        for depth in [MAX_DEPTH as usize, MAX_DEPTH as usize + 1, 100_000] {
            let text = format!(r#"{{"v":{}1{}}}"#, "[".repeat(depth), "]".repeat(depth));
            let read = from_str_seed(&text, Object(Ask::IgnoredAny));
            // The top-level object counts as one level.
            assert_eq!(read.is_some(), depth < MAX_DEPTH as usize, "{depth}");
        }
    }
}
