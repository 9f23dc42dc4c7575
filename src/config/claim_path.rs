//! `jwt-role-claim-key`: where the role is in a JWT's claims, as PostgREST spells it.
//!
//! Two spellings are accepted, as PostgREST accepts them:
//! - its current one, an RFC 9535 JSONPath query from the root: `$.role`, `$.a.b`,
//!   `$.roles[0]`, `$['https://x/c'].role`, `$["my-role"]` (whitespace allowed between
//!   segments and inside brackets);
//! - its deprecated one (before v16): `.role`, `.a.b`, `.roles[0]`, `."https://x/c".role`, where
//!   an unquoted key is made of letters, digits, `_`, `$` and `@`.
//!
//! Anything else is refused (`.role##`, `.my_role;;domain`, `role`, `$.`). JSONPath queries that
//! select more than one path (wildcards `*`, descendants `..`, slices, filters `[?…]`, several
//! selectors in one bracket, negative indices) are valid for PostgREST but not supported by tusk
//! yet: they are refused with a message that says so.

use std::fmt;

/// One step of a role-claim path: into an object by key, or into an array by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A parsed `jwt-role-claim-key`: at least one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(pub Vec<Step>);

/// Why a `jwt-role-claim-key` was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimPathError {
    /// Not a JSONPath query nor the deprecated form.
    Malformed(String),
    /// A valid JSONPath query tusk cannot evaluate yet.
    Unsupported(String),
}

impl fmt::Display for ClaimPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimPathError::Malformed(why) => write!(f, "not a JSONPath like $.role or $.roles[0] ({why})"),
            ClaimPathError::Unsupported(what) => {
                write!(f, "{what} is not supported by tusk yet; use keys and array indices, like $.realm.roles[0]")
            }
        }
    }
}

impl ClaimPath {
    /// PostgREST's default, `$.role`.
    pub fn role() -> ClaimPath {
        ClaimPath(vec![Step::Key("role".into())])
    }

    pub fn parse(text: &str) -> Result<ClaimPath, ClaimPathError> {
        let text = text.trim();
        if text.starts_with('$') {
            json_path(text)
        } else if text.starts_with('.') {
            deprecated(text)
        } else {
            Err(ClaimPathError::Malformed("it must start with $".into()))
        }
    }

    /// The path in PostgREST's `--dump-config` form, before the config-file escaping: the
    /// RFC 9535 query (`$.role`, `$.roles[0]`, `$['https://x/c']`), a key in dot notation when
    /// it is a JSONPath member name, else in single-quoted brackets.
    pub fn to_json_path(&self) -> String {
        let mut out = String::from("$");
        for step in &self.0 {
            match step {
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::Key(k) if is_member_name(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Step::Key(k) => {
                    out.push_str("['");
                    for c in k.chars() {
                        match c {
                            '\'' => out.push_str("\\'"),
                            '\\' => out.push_str("\\\\"),
                            c => out.push(c),
                        }
                    }
                    out.push_str("']");
                }
            }
        }
        out
    }
}

/// RFC 9535 `member-name-shorthand`: name-first (ALPHA / "_" / non-ASCII) then name-chars.
fn is_member_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii())
}

fn malformed<T>(why: impl Into<String>) -> Result<T, ClaimPathError> {
    Err(ClaimPathError::Malformed(why.into()))
}

fn unsupported<T>(what: &str) -> Result<T, ClaimPathError> {
    Err(ClaimPathError::Unsupported(what.into()))
}

/// RFC 9535 blank space.
fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

struct Cursor<'a> {
    rest: &'a str,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn skip_blank(&mut self) {
        self.rest = self.rest.trim_start_matches(is_blank);
    }
}

/// `$` then segments: `.name`, `[ 'name' ]`, `[ "name" ]`, `[ index ]`.
fn json_path(text: &str) -> Result<ClaimPath, ClaimPathError> {
    let mut cur = Cursor { rest: &text[1..] };
    let mut steps = Vec::new();
    loop {
        cur.skip_blank();
        match cur.peek() {
            None => break,
            Some('.') => {
                cur.bump();
                match cur.peek() {
                    Some('.') => return unsupported("the descendant segment (..)"),
                    Some('*') => return unsupported("the wildcard (*)"),
                    Some(c) if c.is_ascii_alphabetic() || c == '_' || !c.is_ascii() => {
                        let end = cur
                            .rest
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || !c.is_ascii()))
                            .unwrap_or(cur.rest.len());
                        steps.push(Step::Key(cur.rest[..end].to_string()));
                        cur.rest = &cur.rest[end..];
                    }
                    Some(c) => return malformed(format!("unexpected '{c}' after '.'")),
                    None => return malformed("a name must follow '.'"),
                }
            }
            Some('[') => {
                cur.bump();
                cur.skip_blank();
                let step = match cur.peek() {
                    Some(q @ ('\'' | '"')) => {
                        cur.bump();
                        Step::Key(quoted(&mut cur, q)?)
                    }
                    Some(c) if c.is_ascii_digit() || c == '-' => index(&mut cur)?,
                    Some('*') => return unsupported("the wildcard (*)"),
                    Some('?') => return unsupported("a filter ([?…])"),
                    Some(c) => return malformed(format!("unexpected '{c}' in brackets")),
                    None => return malformed("unclosed '['"),
                };
                cur.skip_blank();
                match cur.bump() {
                    Some(']') => steps.push(step),
                    Some(',') => return unsupported("a bracket with several selectors"),
                    Some(':') => return unsupported("an array slice"),
                    Some(c) => return malformed(format!("unexpected '{c}' in brackets")),
                    None => return malformed("unclosed '['"),
                }
            }
            Some(c) => return malformed(format!("unexpected '{c}'")),
        }
    }
    if steps.is_empty() {
        return unsupported("the root query ($) alone");
    }
    Ok(ClaimPath(steps))
}

/// An array index: `0` or a positive integer without leading zeros (RFC 9535).
fn index(cur: &mut Cursor) -> Result<Step, ClaimPathError> {
    if cur.peek() == Some('-') {
        return unsupported("a negative array index");
    }
    let end = cur.rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(cur.rest.len());
    let digits = &cur.rest[..end];
    if digits.len() > 1 && digits.starts_with('0') {
        return malformed(format!("the index {digits} has a leading zero"));
    }
    let i = digits.parse::<usize>().or_else(|_| malformed(format!("the index {digits} is too large")))?;
    cur.rest = &cur.rest[end..];
    Ok(Step::Index(i))
}

/// The rest of a string literal opened by `quote`, with RFC 9535's escapes.
fn quoted(cur: &mut Cursor, quote: char) -> Result<String, ClaimPathError> {
    let mut out = String::new();
    loop {
        match cur.bump() {
            None => return malformed("unterminated string"),
            Some(c) if c == quote => return Ok(out),
            Some('\\') => match cur.bump() {
                Some('b') => out.push('\u{8}'),
                Some('f') => out.push('\u{c}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                // `\'` only in single quotes, `\"` only in double quotes.
                Some(c) if c == '/' || c == '\\' || c == quote => out.push(c),
                Some('u') => {
                    let hex: String = (0..4).filter_map(|_| cur.bump()).collect();
                    let c = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32);
                    match c {
                        Some(c) if hex.len() == 4 => out.push(c),
                        _ => return malformed(format!("bad escape \\u{hex}")),
                    }
                }
                Some(c) => return malformed(format!("bad escape \\{c}")),
                None => return malformed("unterminated string"),
            },
            Some(c) if (c as u32) < 0x20 => return malformed("a control character in a string"),
            Some(c) => out.push(c),
        }
    }
}

/// The deprecated form: (`.` key [`[` digits `]`])+, a key being `[A-Za-z0-9_$@]+` or `"…"`.
fn deprecated(text: &str) -> Result<ClaimPath, ClaimPathError> {
    let mut cur = Cursor { rest: text };
    let mut steps = Vec::new();
    while !cur.rest.is_empty() {
        if !cur.eat('.') {
            return malformed(format!("expected '.' at '{}'", cur.rest));
        }
        if cur.eat('"') {
            let end = cur.rest.find('"').ok_or(ClaimPathError::Malformed("unterminated quoted key".into()))?;
            steps.push(Step::Key(cur.rest[..end].to_string()));
            cur.rest = &cur.rest[end + 1..];
        } else {
            let end = cur
                .rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '@')))
                .unwrap_or(cur.rest.len());
            if end == 0 {
                return malformed(match cur.peek() {
                    Some(c) => format!("unexpected '{c}' in a key (letters, digits, _, $ and @, or a quoted key)"),
                    None => "a key must follow '.'".into(),
                });
            }
            steps.push(Step::Key(cur.rest[..end].to_string()));
            cur.rest = &cur.rest[end..];
        }
        if cur.eat('[') {
            let end = cur.rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(cur.rest.len());
            let i = cur.rest[..end].parse::<usize>().or_else(|_| malformed("expected an array index [0..n]"))?;
            cur.rest = &cur.rest[end..];
            if !cur.eat(']') {
                return malformed("expected ']'");
            }
            steps.push(Step::Index(i));
        }
        if let Some(c) = cur.peek().filter(|c| *c != '.') {
            return malformed(format!("unexpected '{c}'"));
        }
    }
    Ok(ClaimPath(steps))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &[&str]) -> ClaimPath {
        ClaimPath(
            path.iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Step::Index(i),
                    Err(_) => Step::Key(s.to_string()),
                })
                .collect(),
        )
    }

    #[test]
    fn json_path_forms() {
        for (text, want) in [
            ("$.role", keys(&["role"])),
            (" $.a.b ", keys(&["a", "b"])),
            ("$.roles[0]", keys(&["roles", "0"])),
            ("$.realm.roles[12]", keys(&["realm", "roles", "12"])),
            ("$['https://x.io/c'].role", keys(&["https://x.io/c", "role"])),
            ("$[\"my-role\"]", keys(&["my-role"])),
            ("$[ 'a' ] [ 1 ]", keys(&["a", "1"])),
            ("$ .a\t.b", keys(&["a", "b"])),
            ("$['it\\'s']", keys(&["it's"])),
            ("$.rôle", keys(&["rôle"])),
        ] {
            assert_eq!(ClaimPath::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn deprecated_forms() {
        for (text, want) in [
            (".role", keys(&["role"])),
            (".a.b", keys(&["a", "b"])),
            (".roles[0]", keys(&["roles", "0"])),
            (".\"https://x.io/c\".roles[1]", keys(&["https://x.io/c", "roles", "1"])),
            (".$x.@y", keys(&["$x", "@y"])),
        ] {
            assert_eq!(ClaimPath::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn malformed_keys_are_refused() {
        for text in [
            ".role##",
            ".my_role;;domain",
            "role",
            "",
            ".",
            "..role",
            ".role.",
            ".roles[x]",
            ".roles[0",
            "$.",
            "$.role##",
            "$.1role",
            "$['unterminated",
            "$[01]",
            "$.a b",
            "$[role]",
            "$.\"quoted\"",
        ] {
            assert!(
                matches!(ClaimPath::parse(text), Err(ClaimPathError::Malformed(_))),
                "{text}: {:?}",
                ClaimPath::parse(text)
            );
        }
    }

    #[test]
    fn valid_queries_tusk_cannot_evaluate_are_refused_as_such() {
        for text in ["$", "$.*", "$..role", "$.roles[-1]", "$.roles[0:2]", "$.roles[?(@ == 'a')]", "$['a','b']"] {
            assert!(
                matches!(ClaimPath::parse(text), Err(ClaimPathError::Unsupported(_))),
                "{text}: {:?}",
                ClaimPath::parse(text)
            );
        }
    }

    #[test]
    fn dumped_as_json_path() {
        for (text, dumped) in [
            (".role", "$.role"),
            ("$.role", "$.role"),
            (".roles[0]", "$.roles[0]"),
            (".\"https://x.io/c\".role", "$['https://x.io/c'].role"),
            ("$[\"it's\"]", "$['it\\'s']"),
            ("$['role']", "$.role"),
        ] {
            let path = ClaimPath::parse(text).expect(text);
            assert_eq!(path.to_json_path(), dumped, "{text}");
            assert_eq!(ClaimPath::parse(&path.to_json_path()), Ok(path), "{text} round trip");
        }
    }
}
