//! The bottom layer: what the protocol allows, written once, importing nothing else of
//! the crate. The model's serde and schema attributes and its validation name these.
//!
//! - [`limits`]: every limit of the protocol and of the decoder;
//! - `spelling`: the tolerated spellings of values, one serde helper per quirk (numbers
//!   as strings or integral floats, flags as booleans); key spellings (`stauts`,
//!   `current_step`, `"timestamp:"`) are `serde(alias)` attributes on their fields;
//! - `object`: protocol objects are read from JSON objects only;
//! - `check`: validation's vocabulary (problems, violations, the report) and its
//!   checks of single values (UUID, version, URL, MD5, topic-safe serial);
//! - `schema_part` (feature `schemars`): the same rules as JSON Schema fragments.

pub(crate) mod check;
pub mod limits;
pub(crate) mod object;
#[cfg(feature = "schemars")]
pub(crate) mod schema_part;
pub(crate) mod spelling;
