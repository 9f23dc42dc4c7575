//! The body → [`Payload`] (PostgREST's `Payload`): JSON, `application/x-www-form-urlencoded`
//! and `text/csv` are read (forms and CSV become JSON), anything else is kept raw for functions
//! taking a single unnamed parameter.
//!
//! In charge of the body's syntax and its keys. Rejects invalid JSON, JSON arrays whose objects
//! have different keys (without `columns=`), and CSV rows of the wrong length (PGRST102).

use super::MediaType;
use crate::error::Error;
use bytes::Bytes;
use serde_json::Value;

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
    let invalid = || Error::InvalidBody("Empty or invalid json".into());
    match content_type {
        MediaType::Json | MediaType::Object(_) => {
            let value: Value = serde_json::from_slice(body).map_err(|_| invalid())?;
            let (is_array, keys) = json_keys(&value, columns_given)?;
            Ok(Payload::Json { raw: body.clone(), is_array, keys })
        }
        MediaType::UrlEncoded => {
            // A repeated key (`v=a&v=b`) becomes an array of its values.
            let mut map = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(body) {
                let v = Value::String(v.into_owned());
                match map.get_mut(k.as_ref()) {
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = Value::Array(vec![first.take(), v]),
                    None => {
                        map.insert(k.into_owned(), v);
                    }
                }
            }
            let keys = map.keys().cloned().collect();
            Ok(Payload::Converted { raw: Bytes::from(Value::Object(map).to_string()), is_array: false, keys })
        }
        MediaType::Csv => {
            let (value, keys) = csv_to_json(body)?;
            Ok(Payload::Converted { raw: Bytes::from(value.to_string()), is_array: true, keys })
        }
        _ => Ok(Payload::Raw(body.clone())),
    }
}

fn json_keys(value: &Value, columns_given: bool) -> Result<(bool, Vec<String>), Error> {
    match value {
        Value::Object(map) => Ok((false, map.keys().cloned().collect())),
        Value::Array(items) => {
            let mut keys: Option<Vec<String>> = None;
            for item in items {
                let Value::Object(map) = item else {
                    return Err(Error::InvalidBody("All object keys must match".into()));
                };
                let mut these: Vec<String> = map.keys().cloned().collect();
                these.sort();
                match &keys {
                    None => keys = Some(these),
                    Some(k) if *k != these && !columns_given => {
                        return Err(Error::InvalidBody("All object keys must match".into()))
                    }
                    Some(_) => {}
                }
            }
            let first =
                items.first().and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
            Ok((true, first))
        }
        _ => Ok((false, vec![])),
    }
}

/// A CSV body (header line, then rows) as a JSON array of objects of strings; `NULL` → null.
pub(super) fn csv_to_json(body: &[u8]) -> Result<(Value, Vec<String>), Error> {
    let text = std::str::from_utf8(body).map_err(|_| Error::InvalidBody("Invalid CSV: not UTF-8".into()))?;
    let rows = parse_csv(text);
    let mut iter = rows.into_iter();
    let header = iter.next().unwrap_or_default();
    let mut out = Vec::new();
    for row in iter {
        if row.len() == 1 && row[0].as_deref() == Some("") {
            continue;
        }
        if row.len() != header.len() {
            return Err(Error::InvalidBody("All lines must have same number of fields".into()));
        }
        let obj: serde_json::Map<String, Value> = header
            .iter()
            .zip(row)
            .map(|(k, v)| (k.clone().unwrap_or_default(), v.map(Value::String).unwrap_or(Value::Null)))
            .collect();
        out.push(Value::Object(obj));
    }
    Ok((Value::Array(out), header.into_iter().map(Option::unwrap_or_default).collect()))
}

/// RFC 4180 CSV; an unquoted `NULL` field is SQL NULL.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut rows = Vec::new();
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
                    rows.push(std::mem::take(&mut row));
                }
                c => field.push(c),
            }
        }
    }
    if !field.is_empty() || !row.is_empty() || was_quoted {
        finish(&mut field, &mut was_quoted, &mut row);
        rows.push(row);
    }
    rows
}
