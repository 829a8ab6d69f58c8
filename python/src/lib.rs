//! The Python module `dji_cloud_ota`: the crate's tolerant decoder, its canonical form
//! and its validation, for servers written in Python.
//!
//! - `decode(topic, payload)`: the OTA message as a `dict` in canonical form, exactly
//!   the JSON that `Message::encode` writes, keys in its order (built from
//!   `Message::serialize_canonical`, with no JSON text in between);
//! - `decode_state(topic, payload)`: the same for a device's state push;
//! - `problems(topic, payload)`: the validation's violations, `[{"path", "message"}]`;
//! - `DecodeError`, a `ValueError`, with `.path` (the JSON path of a data error, else
//!   `None`), `.not_ota` (a message of another kind) and `.kind`.

mod to_python;

use dji_cloud_ota::DecodeError as RustDecodeError;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use to_python::{ToPython, with_strings};

pyo3::create_exception!(
    dji_cloud_ota,
    DecodeError,
    PyValueError,
    "A payload the decoder refuses. `.path` is the JSON path of a data error \
     (`data.output.progress.percent`), else `None`; `.not_ota` is true for a message of \
     another kind (an `hms` event, an `osd` topic), which is no error of the sender; \
     `.kind` names the refusal: `not_ota`, `wrong_topic`, `topic`, `too_large`, \
     `invalid_utf8`, `syntax` or `data`."
);

/// The payload's bytes: `bytes` as they are, `str` as UTF-8.
fn payload_bytes<'a>(payload: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(bytes) = payload.cast::<PyBytes>() {
        return Ok(bytes.as_bytes());
    }
    if let Ok(text) = payload.cast::<PyString>() {
        return Ok(text.to_str()?.as_bytes());
    }
    Err(PyTypeError::new_err(format!(
        "payload must be bytes or str, not {}",
        payload.get_type().name()?
    )))
}

/// The Python exception for a refusal of the decoder.
fn decode_error(py: Python<'_>, error: &RustDecodeError) -> PyErr {
    let (kind, path) = match error {
        RustDecodeError::NotOta { .. } => ("not_ota", None),
        RustDecodeError::WrongTopic { .. } => ("wrong_topic", None),
        RustDecodeError::Topic(_) => ("topic", None),
        RustDecodeError::TooLarge { .. } => ("too_large", None),
        RustDecodeError::InvalidUtf8 { .. } => ("invalid_utf8", None),
        RustDecodeError::Syntax { .. } => ("syntax", None),
        RustDecodeError::Data(data) => ("data", Some(data.path.as_str())),
        _ => ("other", None),
    };
    let err = DecodeError::new_err(error.to_string());
    let value = err.value(py);
    let set = || -> PyResult<()> {
        value.setattr("path", path)?;
        value.setattr("not_ota", error.is_not_ota())?;
        value.setattr("kind", kind)?;
        Ok(())
    };
    match set() {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// Decodes the OTA message `payload` (bytes or str) received on `topic`, and returns it
/// in canonical form: the `dict` of exactly the JSON the Rust crate's `encode` writes.
///
/// Raises `DecodeError` when the decoder refuses it (`.not_ota` for a message of
/// another kind).
#[pyfunction]
fn decode<'py>(
    py: Python<'py>,
    topic: &str,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let message =
        dji_cloud_ota::decode(topic, payload_bytes(payload)?).map_err(|e| decode_error(py, &e))?;
    with_strings(|strings| message.serialize_canonical(ToPython { py, strings }))
        .map_err(|error| *error.0)
}

/// Decodes a device's state push (`thing/product/{sn}/state`) and returns it in
/// canonical form: the envelope and the firmware properties it carries.
#[pyfunction]
fn decode_state<'py>(
    py: Python<'py>,
    topic: &str,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let push = dji_cloud_ota::decode_state(topic, payload_bytes(payload)?)
        .map_err(|e| decode_error(py, &e))?;
    with_strings(|strings| push.serialize_canonical(ToPython { py, strings }))
        .map_err(|error| *error.0)
}

/// Decodes the OTA message and validates it: every violation of the protocol's rules
/// as `{"path": ..., "message": ...}`, in the order of the message's fields; empty for
/// a valid message. Raises `DecodeError` when it does not decode.
#[pyfunction]
fn problems<'py>(
    py: Python<'py>,
    topic: &str,
    payload: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyList>> {
    let message =
        dji_cloud_ota::decode(topic, payload_bytes(payload)?).map_err(|e| decode_error(py, &e))?;
    let list = PyList::empty(py);
    if let Err(errors) = message.validate() {
        for violation in errors.violations {
            let item = PyDict::new(py);
            item.set_item("path", violation.path)?;
            item.set_item("message", violation.problem.to_string())?;
            list.append(item)?;
        }
    }
    Ok(list)
}

#[pymodule(name = "dji_cloud_ota")]
fn python_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(decode_state, m)?)?;
    m.add_function(wrap_pyfunction!(problems, m)?)?;
    let error = py.get_type::<DecodeError>();
    // What an instance made in Python (`DecodeError("...")`) says.
    error.setattr("path", py.None())?;
    error.setattr("not_ota", false)?;
    error.setattr("kind", py.None())?;
    m.add("DecodeError", error)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
