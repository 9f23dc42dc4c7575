//! The SQL writer and the only quoting helpers: how text of the request may reach SQL.
//!
//! In charge of: quoting identifiers ([`ident`], the only one), binding values ([`Sql::bind`],
//! `$n` placeholders whose values travel apart from the text), validating type names
//! ([`TypeName`]) and escaping the elements of bound array literals ([`array_element`]).
//!
//! The rule the rest of `query` follows: text from the request reaches SQL only through
//! `ident`, `bind` or a [`TypeName`] (written through its `Display`, as fragments are). Everything else written is fixed text ([`Sql::push`]
//! takes only `&'static str`), catalog facts from the schema cache, or fragments assembled
//! in `query` from those ([`Sql::push_composed`]).
//!
//! Rejects: type names with characters outside ASCII letters, digits, `_`, spaces and `[]`
//! (the grammar refuses them first; this is the second wall).

use super::{Param, Statement};
use crate::error::Error;
use crate::schema_cache::RepFunction;
use std::fmt;

/// Double-quotes an identifier (inner quotes doubled): the only quoting of names.
pub fn ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    push_ident(&mut out, name);
    out
}

/// [`ident`], written at the end of `out` (no allocation of its own).
pub(super) fn push_ident(out: &mut String, name: &str) {
    out.push('"');
    for (i, part) in name.split('"').enumerate() {
        if i > 0 {
            out.push_str("\"\"");
        }
        out.push_str(part);
    }
    out.push('"');
}

/// Writes `n` in decimal at the end of `out`, without `fmt` (placeholders are written for
/// every bound value of every request).
fn push_number(out: &mut String, n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut rest = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// A `$n` placeholder of a bound value, or the read of a request body staged in its table
/// ([`super::STAGED_BODY`]) instead of bound.
#[derive(Debug, Clone)]
pub(super) enum Placeholder {
    Param(usize),
    StagedBody,
}

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placeholder::Param(n) => write!(f, "${n}"),
            Placeholder::StagedBody => f.write_str(super::STAGED_BODY),
        }
    }
}

/// A type name that is safe to write inline: one made by [`TypeName::parse`] (a cast of the
/// request) or by [`TypeName::from_catalog`] (a type the schema cache read from PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TypeName(String);

impl TypeName {
    /// A type name written by the client (`::type`): ASCII letters, digits, `_`, spaces and
    /// `[]`, as the grammar allows, so nothing in it can open or close a quote or a comment.
    pub(super) fn parse(name: &str) -> Result<TypeName, Error> {
        let allowed = name.chars().all(|c| c.is_ascii_alphanumeric() || " _[]".contains(c));
        if name.trim().is_empty() || !allowed {
            return Err(Error::parse("type name", 1, format!("invalid type name {name:?}")));
        }
        Ok(TypeName(name.to_string()))
    }

    /// A type name from the schema cache (PostgreSQL's own `format_type` text): trusted, it
    /// comes from the catalog, not from the request.
    pub(super) fn from_catalog(name: &str) -> TypeName {
        TypeName(name.to_string())
    }
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A statement being written: its text and its bound values.
pub(super) struct Sql {
    text: String,
    params: Vec<Param>,
    /// `Some` when the body is to be staged in its table rather than bound (see
    /// [`Sql::staging_body`]); then the body [`Sql::bind_body`] was given.
    staged: Option<Option<(bytes::Bytes, bool)>>,
}

impl Sql {
    pub(super) fn new() -> Sql {
        Sql { text: String::new(), params: Vec::new(), staged: None }
    }

    /// A statement of about `text` bytes and `params` values.
    pub(super) fn with_capacity(text: usize, params: usize) -> Sql {
        Sql { text: String::with_capacity(text), params: Vec::with_capacity(params), staged: None }
    }

    /// A statement that reads the request body from its table ([`super::STAGED_BODY`])
    /// instead of binding it.
    pub(super) fn staging_body(mut self) -> Sql {
        self.staged = Some(None);
        self
    }

    /// Fixed SQL text.
    pub(super) fn push(&mut self, s: &'static str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    /// A quoted identifier.
    pub(super) fn ident(&mut self, name: &str) -> &mut Sql {
        push_ident(&mut self.text, name);
        self
    }

    /// A placeholder bound earlier.
    pub(super) fn placeholder(&mut self, p: &Placeholder) -> &mut Sql {
        match p {
            Placeholder::Param(n) => {
                self.text.push('$');
                push_number(&mut self.text, *n);
            }
            Placeholder::StagedBody => self.text.push_str(super::STAGED_BODY),
        }
        self
    }

    /// A fragment assembled in `query` from fixed text, [`ident`], placeholders, type names
    /// and catalog facts (never raw request text).
    pub(super) fn push_composed(&mut self, fragment: &str) -> &mut Sql {
        self.text.push_str(fragment);
        self
    }

    /// Binds a value; returns its placeholder.
    pub(super) fn bind(&mut self, value: impl Into<String>) -> Placeholder {
        self.params.push(Param::Text(value.into()));
        Placeholder::Param(self.params.len())
    }

    /// Binds fixed text (no allocation); otherwise as [`Sql::bind`].
    pub(super) fn bind_static(&mut self, value: &'static str) -> Placeholder {
        self.params.push(Param::Static(value));
        Placeholder::Param(self.params.len())
    }

    /// Binds the request body as it is (no copy); `in_array`: wrapped in `[` `]`. When
    /// [`Sql::staging_body`], the body is kept aside and read from its table instead.
    pub(super) fn bind_body(&mut self, bytes: bytes::Bytes, in_array: bool) -> Placeholder {
        if let Some(staged) = &mut self.staged {
            *staged = Some((bytes, in_array));
            return Placeholder::StagedBody;
        }
        self.params.push(Param::Body { bytes, in_array });
        Placeholder::Param(self.params.len())
    }

    pub(super) fn finish(self) -> Statement {
        Statement { sql: self.text, params: self.params }
    }

    /// [`Sql::finish`], with the body kept aside by a [`Sql::staging_body`] statement.
    pub(super) fn finish_staged(self) -> (Statement, Option<(bytes::Bytes, bool)>) {
        (Statement { sql: self.text, params: self.params }, self.staged.flatten())
    }
}

/// Escapes one element of a PostgreSQL array literal (for a bound `text[]`).
pub(super) fn array_element(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `CAST(expr AS type)` with a type name of the request, validated.
pub(super) fn cast(expr: &str, type_name: &str) -> Result<String, Error> {
    Ok(format!("CAST({expr} AS {})", TypeName::parse(type_name)?))
}

/// A bound array literal's text: `{"a","b"}`.
pub(super) fn array_literal<'a>(values: impl IntoIterator<Item = &'a String>) -> String {
    format!("{{{}}}", values.into_iter().map(|v| array_element(v)).collect::<Vec<_>>().join(","))
}

/// A qualified, quoted name: `"schema"."name"`.
pub(super) fn qualified(schema: &str, name: &str) -> String {
    let mut out = String::with_capacity(schema.len() + name.len() + 5);
    push_ident(&mut out, schema);
    out.push('.');
    push_ident(&mut out, name);
    out
}

/// A representation function's qualified, quoted name.
pub(super) fn function_name(f: &RepFunction) -> String {
    qualified(&f.schema, &f.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_ascii_letters_digits_underscores_spaces_and_brackets() {
        assert!(TypeName::parse("text").is_ok());
        assert!(TypeName::parse("double precision[]").is_ok());
        assert!(TypeName::parse("\"my type\"").is_err());
        assert!(TypeName::parse("tèxt").is_err());
        assert!(TypeName::parse("text\"").is_err());
        assert!(TypeName::parse("text;drop").is_err());
        assert!(TypeName::parse(" ").is_err());
    }
}
