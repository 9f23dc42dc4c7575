//! The SQL writer and the only quoting helpers.

use super::Statement;
use crate::schema_cache::RepFunction;

/// Double-quotes an identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(super) struct Sql {
    text: String,
    params: Vec<Option<String>>,
}

impl Sql {
    pub(super) fn new() -> Sql {
        Sql { text: String::new(), params: Vec::new() }
    }
    pub(super) fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }
    /// Binds a value; returns its placeholder.
    pub(super) fn bind(&mut self, value: impl Into<String>) -> String {
        self.params.push(Some(value.into()));
        format!("${}", self.params.len())
    }
    pub(super) fn finish(self) -> Statement {
        Statement { sql: self.text, params: self.params }
    }
}

/// Escapes one element of a PostgreSQL array literal.
pub(super) fn array_element(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A representation function's qualified, quoted name.
pub(super) fn function_name((schema, name): &RepFunction) -> String {
    format!("{}.{}", ident(schema), ident(name))
}
