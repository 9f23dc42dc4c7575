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
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A `$n` placeholder of a bound value.
#[derive(Debug, Clone)]
pub(super) struct Placeholder(usize);

impl fmt::Display for Placeholder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}", self.0)
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
}

impl Sql {
    pub(super) fn new() -> Sql {
        Sql { text: String::new(), params: Vec::new() }
    }

    /// Fixed SQL text.
    pub(super) fn push(&mut self, s: &'static str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    /// A quoted identifier.
    pub(super) fn ident(&mut self, name: &str) -> &mut Sql {
        self.text.push_str(&ident(name));
        self
    }

    /// A placeholder bound earlier.
    pub(super) fn placeholder(&mut self, p: &Placeholder) -> &mut Sql {
        self.text.push_str(&p.to_string());
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
        Placeholder(self.params.len())
    }

    /// Binds the request body as it is (no copy); `in_array`: wrapped in `[` `]`.
    pub(super) fn bind_body(&mut self, bytes: bytes::Bytes, in_array: bool) -> Placeholder {
        self.params.push(Param::Body { bytes, in_array });
        Placeholder(self.params.len())
    }

    pub(super) fn finish(self) -> Statement {
        Statement { sql: self.text, params: self.params }
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
    format!("{}.{}", ident(schema), ident(name))
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
