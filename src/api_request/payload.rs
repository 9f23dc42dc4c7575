//! The body → [`Payload`] (PostgREST's `Payload`): JSON, `application/x-www-form-urlencoded`
//! and `text/csv` are read (forms and CSV become JSON), anything else is kept raw for functions
//! taking a single unnamed parameter.
//!
//! In charge of the body's syntax and its keys. Rejects invalid JSON, JSON arrays whose objects
//! have different keys (without `columns=`), and CSV rows of the wrong length (PGRST102).
//!
//! Memory: PostgreSQL parses a JSON body itself, so no JSON tree is built here. One streaming
//! pass over the borrowed bytes checks the syntax (as strictly as `serde_json::Value` would)
//! and reads only the keys; values are skipped. The body is handed on unchanged (a `Bytes`
//! clone, no copy). What the pass holds is the first object's keys and one flag per key, so
//! an array of a million objects costs no more than one. Forms and CSV are converted row by
//! row straight into JSON text.

use super::MediaType;
use crate::error::Error;
use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone)]
pub enum Payload {
    /// A JSON body. `keys`: the keys of the object (or of the first object of an array).
    Json { raw: Bytes, is_array: bool, keys: Vec<String> },
    /// `application/x-www-form-urlencoded` or `text/csv`, turned into a JSON array/object.
    Converted { raw: Bytes, is_array: bool, keys: Vec<String> },
    /// Anything else (for functions taking the body as one unnamed parameter).
    Raw(Bytes),
}

impl Payload {
    pub fn keys(&self) -> &[String] {
        match self {
            Payload::Json { keys, .. } | Payload::Converted { keys, .. } => keys,
            Payload::Raw(_) => &[],
        }
    }

    /// The body as JSON text (for `Raw`, the bytes themselves).
    pub fn json_bytes(&self) -> &Bytes {
        match self {
            Payload::Json { raw, .. } | Payload::Converted { raw, .. } | Payload::Raw(raw) => raw,
        }
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Payload::Json { is_array: true, .. } | Payload::Converted { is_array: true, .. })
    }
}

pub(super) fn parse_payload(content_type: &MediaType, body: &Bytes, columns_given: bool) -> Result<Payload, Error> {
    match content_type {
        MediaType::Json | MediaType::Object(_) => {
            let (is_array, keys) = json_keys(body, columns_given)?;
            Ok(Payload::Json { raw: body.clone(), is_array, keys })
        }
        MediaType::UrlEncoded => {
            let (json, keys) = form_to_json(body)?;
            Ok(Payload::Converted { raw: Bytes::from(json), is_array: false, keys })
        }
        MediaType::Csv => {
            let (json, keys) = csv_to_json(body)?;
            Ok(Payload::Converted { raw: Bytes::from(json), is_array: true, keys })
        }
        _ => Ok(Payload::Raw(body.clone())),
    }
}

fn invalid_json() -> Error {
    Error::InvalidBody("Empty or invalid json".into())
}

/// Whether the body is an array, and the keys of the object (or of an array's first object),
/// in the order of a `serde_json::Map` (sorted, each once). Invalid JSON wins over keys that
/// do not match, wherever each is in the body.
fn json_keys(body: &[u8], columns_given: bool) -> Result<(bool, Vec<String>), Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let shape = de.deserialize_any(ShapeVisitor { columns_given }).map_err(|_| invalid_json())?;
    de.end().map_err(|_| invalid_json())?;
    if shape.mismatch {
        return Err(Error::InvalidBody("All object keys must match".into()));
    }
    Ok((shape.is_array, shape.keys.into_iter().map(Cow::into_owned).collect()))
}

/// The first row of a JSON body, as sent: the first element of an array, or the body itself
/// when it is not an array; `None` for invalid JSON and the empty array. Reads the body in one
/// pass without building it.
pub fn first_row(body: &[u8]) -> Option<&[u8]> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let first = de.deserialize_any(FirstVisitor).ok()?;
    de.end().ok()?;
    match first {
        First::Element(raw) => Some(raw.get().as_bytes()),
        First::Empty => None,
        First::NotArray => Some(body),
    }
}

/// What the pass over a JSON body found.
struct Shape<'de> {
    is_array: bool,
    keys: Vec<Cow<'de, str>>,
    mismatch: bool,
}

struct ShapeVisitor {
    columns_given: bool,
}

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Shape<'de>, A::Error> {
        Ok(Shape { is_array: false, keys: object_keys(map)?, mismatch: false })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape<'de>, A::Error> {
        let Some(first) = seq.next_element::<&'de RawValue>()? else {
            return Ok(Shape { is_array: true, keys: Vec::new(), mismatch: false });
        };
        // The first element is read twice (it is one row): once whole, once for its keys.
        let mut first_de = serde_json::Deserializer::from_str(first.get());
        let keys = first_de.deserialize_any(KeysVisitor).map_err(de::Error::custom)?;
        let mut mismatch = keys.is_none();
        let keys = keys.unwrap_or_default();
        let mut seen = vec![false; keys.len()];
        let check = !self.columns_given;
        while let Some(same) = seq.next_element_seed(SameKeys { first: &keys, seen: &mut seen, check })? {
            mismatch |= !same;
        }
        Ok(Shape { is_array: true, keys, mismatch })
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
    fn visit_i64<E>(self, _: i64) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
    fn visit_u64<E>(self, _: u64) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
    fn visit_f64<E>(self, _: f64) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
    fn visit_str<E>(self, _: &str) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
    fn visit_unit<E>(self) -> Result<Shape<'de>, E> {
        Ok(Shape::scalar())
    }
}

impl Shape<'_> {
    fn scalar() -> Self {
        Shape { is_array: false, keys: Vec::new(), mismatch: false }
    }
}

/// An object's keys, sorted and each once (as a `serde_json::Map` has them); values skipped.
fn object_keys<'de, A: MapAccess<'de>>(mut map: A) -> Result<Vec<Cow<'de, str>>, A::Error> {
    let mut keys = Vec::new();
    while let Some(Key(k)) = map.next_key()? {
        map.next_value::<Skip>()?;
        keys.push(k);
    }
    keys.sort_unstable();
    keys.dedup();
    Ok(keys)
}

/// The keys of an object, `None` for any other value.
struct KeysVisitor;

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = Option<Vec<Cow<'de, str>>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        object_keys(map).map(Some)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One more element of an array: whether it is an object with the first object's keys (when
/// `check`; else whether it is an object). `seen` is scratch space, one flag per key.
struct SameKeys<'a, 'de> {
    first: &'a [Cow<'de, str>],
    seen: &'a mut Vec<bool>,
    check: bool,
}

impl<'de> DeserializeSeed<'de> for SameKeys<'_, 'de> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SameKeys<'_, 'de> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut same = true;
        while let Some(Key(k)) = map.next_key()? {
            map.next_value::<Skip>()?;
            if self.check {
                match self.first.binary_search_by(|f| f.as_ref().cmp(k.as_ref())) {
                    Ok(i) => {
                        if let Some(s) = self.seen.get_mut(i) {
                            *s = true;
                        }
                    }
                    Err(_) => same = false,
                }
            }
        }
        Ok(same && (!self.check || self.seen.iter().all(|s| *s)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<bool, A::Error> {
        SkipVisitor.visit_seq(seq).map(|_| false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
}

/// Where a body's first row is.
enum First<'de> {
    Element(&'de RawValue),
    Empty,
    NotArray,
}

struct FirstVisitor;

impl<'de> Visitor<'de> for FirstVisitor {
    type Value = First<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<'de>, A::Error> {
        let Some(first) = seq.next_element::<&'de RawValue>()? else {
            return Ok(First::Empty);
        };
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(First::Element(first))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<First<'de>, A::Error> {
        SkipVisitor.visit_map(map).map(|_| First::NotArray)
    }

    fn visit_bool<E>(self, _: bool) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
    fn visit_i64<E>(self, _: i64) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
    fn visit_u64<E>(self, _: u64) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
    fn visit_f64<E>(self, _: f64) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
    fn visit_str<E>(self, _: &str) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
    fn visit_unit<E>(self) -> Result<First<'de>, E> {
        Ok(First::NotArray)
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

/// Any JSON value, checked as strictly as `serde_json::Value` checks it (numbers in range,
/// strings valid UTF-8 with valid escapes) but kept nowhere. Unlike `serde::de::IgnoredAny`,
/// which serde_json skips without these checks.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }
    fn visit_unit<E>(self) -> Result<Skip, E> {
        Ok(Skip)
    }
}

/// A form body as one JSON object of strings; a repeated key (`v=a&v=b`) becomes an array of
/// its values. Keys in `serde_json::Map` order (sorted).
pub(super) fn form_to_json(body: &[u8]) -> Result<(Vec<u8>, Vec<String>), Error> {
    let mut map: BTreeMap<Cow<str>, Vec<Cow<str>>> = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        map.entry(k).or_default().push(v);
    }
    let mut out = Vec::with_capacity(body.len().saturating_add(16));
    out.push(b'{');
    for (i, (k, values)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_str(&mut out, k)?;
        out.push(b':');
        match values.as_slice() {
            [one] => write_json_str(&mut out, one)?,
            many => {
                out.push(b'[');
                for (j, v) in many.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_json_str(&mut out, v)?;
                }
                out.push(b']');
            }
        }
    }
    out.push(b'}');
    Ok((out, map.into_keys().map(Cow::into_owned).collect()))
}

fn write_json_str(out: &mut Vec<u8>, s: &str) -> Result<(), Error> {
    serde_json::to_writer(out, s).map_err(|_| invalid_json())
}

/// A CSV body (header line, then rows) as the text of a JSON array of objects of strings;
/// `NULL` → null. Each object has the keys in `serde_json::Map` order (sorted; a repeated
/// header name once, with its last field). Built row by row: only one row is held parsed.
pub(super) fn csv_to_json(body: &[u8]) -> Result<(Vec<u8>, Vec<String>), Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::InvalidBody("Invalid CSV: not UTF-8".into()))?;
    let mut header: Option<Vec<String>> = None;
    // Per output key (sorted, each once), the index of its field in a row.
    let mut order: Vec<(String, usize)> = Vec::new();
    let mut out = Vec::with_capacity(body.len().saturating_add(16));
    out.push(b'[');
    let mut rows = 0usize;
    parse_csv(text, |row| {
        let Some(names) = &header else {
            let names: Vec<String> = row.drain(..).map(Option::unwrap_or_default).collect();
            let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
            for (i, n) in names.iter().enumerate() {
                by_name.insert(n, i);
            }
            order = by_name.into_iter().map(|(n, i)| (n.to_string(), i)).collect();
            header = Some(names);
            return Ok(());
        };
        if row.len() == 1 && row[0].as_deref() == Some("") {
            return Ok(());
        }
        if row.len() != names.len() {
            return Err(Error::InvalidBody("All lines must have same number of fields".into()));
        }
        if rows > 0 {
            out.push(b',');
        }
        rows = rows.saturating_add(1);
        out.push(b'{');
        for (j, (name, i)) in order.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            write_json_str(&mut out, name)?;
            out.push(b':');
            match row.get(*i).and_then(Option::as_deref) {
                Some(v) => write_json_str(&mut out, v)?,
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        Ok(())
    })?;
    out.push(b']');
    Ok((out, header.unwrap_or_default()))
}

/// RFC 4180 CSV; an unquoted `NULL` field is SQL NULL. Calls `on_row` with each row (which it
/// may take the fields of); one row is held at a time.
fn parse_csv(text: &str, mut on_row: impl FnMut(&mut Vec<Option<String>>) -> Result<(), Error>) -> Result<(), Error> {
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut was_quoted = false;
    let mut chars = text.chars().peekable();
    let finish = |field: &mut String, was_quoted: &mut bool, row: &mut Vec<Option<String>>| {
        let f = std::mem::take(field);
        row.push(if !*was_quoted && f == "NULL" { None } else { Some(f) });
        *was_quoted = false;
    };
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => quoted = false,
                c => field.push(c),
            }
        } else {
            match c {
                '"' => {
                    quoted = true;
                    was_quoted = true;
                }
                ',' => finish(&mut field, &mut was_quoted, &mut row),
                '\r' => {}
                '\n' => {
                    finish(&mut field, &mut was_quoted, &mut row);
                    on_row(&mut row)?;
                    row.clear();
                }
                c => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() || was_quoted {
        finish(&mut field, &mut was_quoted, &mut row);
        on_row(&mut row)?;
    }
    Ok(())
}
