//! A serde `Serializer` that builds Python objects: what the crate's
//! `serialize_canonical` writes becomes the `dict`s, `list`s, `str`s and `int`s of the
//! canonical form, keys in the same order, with no JSON text in between.
//!
//! Building the objects is most of what `decode` costs from Python, so strings are made
//! once and handed out again: the keys (the canonical form's field names, `&'static str`
//! known by their address) and the short values (enum values, serials, versions).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyList, PyString};
use pyo3::{Borrowed, ffi};
use serde::ser::{self, Impossible, Serialize};

/// The longest value kept in the cache: enum values (`download_firmware`), serials and
/// versions; not the ids (36 characters), which differ in every message.
const CACHED_MAX_LEN: usize = 32;
/// How many values the cache keeps at most (serials and versions vary by fleet).
const CACHED_MAX_COUNT: usize = 1024;

/// The strings made so far: the field names by the address and length of their
/// `&'static str` (the same bytes), short values by their text.
#[derive(Default)]
pub(crate) struct Strings {
    keys: Vec<((usize, usize), Py<PyString>)>,
    /// Where the next field name is likely to be in `keys`: messages of one kind ask
    /// for their names in the same order every time.
    next_key: usize,
    values: HashMap<Box<str>, Py<PyString>, Seed>,
}

thread_local! {
    /// One cache per thread, taken once per message.
    static STRINGS: RefCell<Strings> = RefCell::new(Strings::default());
}

/// Runs `f` with this thread's cache of strings.
pub(crate) fn with_strings<R>(f: impl FnOnce(&RefCell<Strings>) -> R) -> R {
    STRINGS.with(f)
}

/// The hash of the cached values: eight bytes at a time (a value is at most
/// [`CACHED_MAX_LEN`] bytes, so four rounds at most, where a byte-at-a-time hash took up
/// to 33), seeded at random once per thread. Nothing a peer sends reaches the cache but
/// values of at most [`CACHED_MAX_LEN`] bytes, at most [`CACHED_MAX_COUNT`] of them.
#[derive(Clone, Copy)]
pub(crate) struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        Seed(RandomState::new().hash_one(0x0d1c_0a7a_u64))
    }
}

impl BuildHasher for Seed {
    type Hasher = Words;

    fn build_hasher(&self) -> Words {
        Words(self.0)
    }
}

/// See [`Seed`]: a multiply-rotate hash of 64-bit words (as rustc's FxHash).
pub(crate) struct Words(u64);

impl Words {
    const K: u64 = 0xf135_7aea_2e62_a9c5;

    fn mix(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(Self::K).rotate_left(26);
    }
}

impl Hasher for Words {
    fn finish(&self) -> u64 {
        // The table picks buckets with the low bits and tags with the high ones: one
        // more multiply spreads every input bit over both.
        self.0.wrapping_mul(Self::K)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Loads of the bytes in place, the last ones overlapping the words before them
        // (no copy of a tail to a buffer, which the load of the word then waits on); the
        // length tells apart what overlaps alike.
        let n = bytes.len();
        self.0 ^= n as u64;
        if n >= 8 {
            let mut i = 0;
            while i + 8 < n {
                self.mix(word(&bytes[i..]));
                i += 8;
            }
            self.mix(word(&bytes[n - 8..]));
        } else if n >= 4 {
            let low = half(bytes);
            let high = half(&bytes[n - 4..]);
            self.mix(low | high << 32);
        } else if n > 0 {
            let three = [bytes[0], bytes[n / 2], bytes[n - 1]].map(u64::from);
            self.mix(three[0] | three[1] << 8 | three[2] << 16);
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.mix(u64::from(byte));
    }
}

/// The first eight bytes of `bytes` as one word.
fn word(bytes: &[u8]) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[..8]);
    u64::from_le_bytes(word)
}

/// The first four bytes of `bytes` as one word.
fn half(bytes: &[u8]) -> u64 {
    let mut half = [0; 4];
    half.copy_from_slice(&bytes[..4]);
    u64::from(u32::from_le_bytes(half))
}

impl Strings {
    /// A field name as a Python string, made once per name, borrowed from the cache:
    /// the cache holds a reference to every name it made for as long as the thread
    /// lives (it never lets one go), so the pointer stays valid after the `RefCell` is
    /// released, and a caller that only lends it (`PyDict_SetItem` takes its own
    /// reference) pays no reference count of its own.
    fn key(&mut self, py: Python<'_>, name: &'static str) -> *mut ffi::PyObject {
        let address = (name.as_ptr() as usize, name.len());
        if let Some((found, made)) = self.keys.get(self.next_key) {
            if *found == address {
                self.next_key += 1;
                return made.as_ptr();
            }
        }
        if let Some(i) = self.keys.iter().position(|(a, _)| *a == address) {
            self.next_key = i + 1;
            return self.keys[i].1.as_ptr();
        }
        let made = PyString::new(py, name).unbind();
        let pointer = made.as_ptr();
        self.keys.push((address, made));
        self.next_key = self.keys.len();
        pointer
    }

    /// A string value as a Python string, from the cache when it is short.
    fn value<'py>(&mut self, py: Python<'py>, text: &str) -> Bound<'py, PyString> {
        if text.len() > CACHED_MAX_LEN {
            return PyString::new(py, text);
        }
        if let Some(cached) = self.values.get(text) {
            return cached.bind(py).clone();
        }
        let made = PyString::new(py, text);
        if self.values.len() < CACHED_MAX_COUNT {
            self.values.insert(text.into(), made.clone().unbind());
        }
        made
    }
}

/// Builds the Python object of what it is given.
#[derive(Clone, Copy)]
pub(crate) struct ToPython<'py, 'c> {
    pub(crate) py: Python<'py>,
    pub(crate) strings: &'c RefCell<Strings>,
}

impl<'py> ToPython<'py, '_> {
    /// A field name, borrowed from the cache ([`Strings::key`]).
    fn key(self, name: &'static str) -> *mut ffi::PyObject {
        self.strings.borrow_mut().key(self.py, name)
    }

    /// A field name as a reference of its own.
    fn owned_key(self, name: &'static str) -> Bound<'py, PyAny> {
        // SAFETY: `key` returns a live string, which the cache keeps alive.
        unsafe { Borrowed::from_ptr(self.py, self.key(name)) }.to_owned()
    }

    /// `dict[key] = value`, with a key borrowed from the cache.
    fn set(
        self,
        dict: &Bound<'py, PyDict>,
        key: *mut ffi::PyObject,
        value: &Bound<'py, PyAny>,
    ) -> Result<(), Error> {
        // SAFETY: the three are live objects, `dict` a dict; `PyDict_SetItem` takes its
        // own references to the key and the value.
        if unsafe { ffi::PyDict_SetItem(dict.as_ptr(), key, value.as_ptr()) } == -1 {
            return Err(PyErr::fetch(self.py).into());
        }
        Ok(())
    }

    fn value(self, text: &str) -> Bound<'py, PyString> {
        self.strings.borrow_mut().value(self.py, text)
    }
}

/// A Python exception raised while building, or a value Python cannot hold.
///
/// Boxed: every value built is a `Result<Bound, Error>`, which a pointer-sized error
/// keeps at two words, returned in registers, where a `PyErr` itself made it many
/// times that, written to and read from memory at every step.
pub(crate) struct Error(pub(crate) Box<PyErr>);

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(message: T) -> Self {
        Error(Box::new(PyValueError::new_err(message.to_string())))
    }
}

impl From<PyErr> for Error {
    fn from(error: PyErr) -> Self {
        Error(Box::new(error))
    }
}

type Built<'py> = Result<Bound<'py, PyAny>, Error>;

impl<'py, 'c> ser::Serializer for ToPython<'py, 'c> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;
    type SerializeSeq = List<'py, 'c>;
    type SerializeTuple = List<'py, 'c>;
    type SerializeTupleStruct = List<'py, 'c>;
    type SerializeTupleVariant = Impossible<Self::Ok, Error>;
    type SerializeMap = Dict<'py, 'c>;
    type SerializeStruct = Dict<'py, 'c>;
    type SerializeStructVariant = Impossible<Self::Ok, Error>;

    fn serialize_bool(self, v: bool) -> Built<'py> {
        Ok(PyBool::new(self.py, v).to_owned().into_any())
    }

    fn serialize_i8(self, v: i8) -> Built<'py> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Built<'py> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Built<'py> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Built<'py> {
        let Ok(int) = v.into_pyobject(self.py);
        Ok(int.into_any())
    }

    fn serialize_u8(self, v: u8) -> Built<'py> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Built<'py> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Built<'py> {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Built<'py> {
        let Ok(int) = v.into_pyobject(self.py);
        Ok(int.into_any())
    }

    fn serialize_f32(self, v: f32) -> Built<'py> {
        self.serialize_f64(v.into())
    }

    fn serialize_f64(self, v: f64) -> Built<'py> {
        Ok(PyFloat::new(self.py, v).into_any())
    }

    fn serialize_char(self, v: char) -> Built<'py> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Built<'py> {
        Ok(self.value(v).into_any())
    }

    fn serialize_bytes(self, v: &[u8]) -> Built<'py> {
        Ok(PyBytes::new(self.py, v).into_any())
    }

    fn serialize_none(self) -> Built<'py> {
        Ok(self.py.None().into_bound(self.py))
    }

    fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Built<'py> {
        v.serialize(self)
    }

    fn serialize_unit(self) -> Built<'py> {
        self.serialize_none()
    }

    fn serialize_unit_struct(self, _: &'static str) -> Built<'py> {
        self.serialize_none()
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Built<'py> {
        Ok(self.owned_key(variant))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Built<'py> {
        v.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Built<'py> {
        let dict = PyDict::new(self.py);
        let key = self.key(variant);
        self.set(&dict, key, &v.serialize(self)?)?;
        Ok(dict.into_any())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<List<'py, 'c>, Error> {
        Ok(List(self, PyList::empty(self.py)))
    }

    fn serialize_tuple(self, len: usize) -> Result<List<'py, 'c>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<List<'py, 'c>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(ser::Error::custom(format!(
            "{name}::{variant}: a tuple variant"
        )))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Dict<'py, 'c>, Error> {
        Ok(Dict(self, PyDict::new(self.py), None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Dict<'py, 'c>, Error> {
        self.serialize_map(None)
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(ser::Error::custom(format!(
            "{name}::{variant}: a struct variant"
        )))
    }
}

/// A `list` being filled.
pub(crate) struct List<'py, 'c>(ToPython<'py, 'c>, Bound<'py, PyList>);

impl List<'_, '_> {
    fn push<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        self.1.append(v.serialize(self.0)?)?;
        Ok(())
    }
}

impl<'py> ser::SerializeSeq for List<'py, '_> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }

    fn end(self) -> Built<'py> {
        Ok(self.1.into_any())
    }
}

impl<'py> ser::SerializeTuple for List<'py, '_> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }

    fn end(self) -> Built<'py> {
        Ok(self.1.into_any())
    }
}

impl<'py> ser::SerializeTupleStruct for List<'py, '_> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        self.push(v)
    }

    fn end(self) -> Built<'py> {
        Ok(self.1.into_any())
    }
}

/// A `dict` being filled, with the key of a map entry whose value is to come.
pub(crate) struct Dict<'py, 'c>(
    ToPython<'py, 'c>,
    Bound<'py, PyDict>,
    Option<Bound<'py, PyAny>>,
);

impl<'py> ser::SerializeMap for Dict<'py, '_> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, k: &T) -> Result<(), Error> {
        self.2 = Some(k.serialize(self.0)?);
        Ok(())
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Error> {
        let k = self
            .2
            .take()
            .ok_or_else(|| <Error as ser::Error>::custom("a map value without its key"))?;
        self.1.set_item(k, v.serialize(self.0)?)?;
        Ok(())
    }

    fn end(self) -> Built<'py> {
        Ok(self.1.into_any())
    }
}

impl<'py> ser::SerializeStruct for Dict<'py, '_> {
    type Ok = Bound<'py, PyAny>;
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        // The name first: the cache expects the names in the order they are written.
        let key = self.0.key(name);
        self.0.set(&self.1, key, &v.serialize(self.0)?)
    }

    fn end(self) -> Built<'py> {
        Ok(self.1.into_any())
    }
}
