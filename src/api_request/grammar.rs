//! The query-string grammar: `parse_query` and the hand-written `select=`, filter, `or=`/`and=`
//! and `order=` parsers over a `Cursor` (PostgREST's `QueryParams` parsers).
//!
//! In charge of syntax only, with PostgREST's error texts and columns. Rejects malformed
//! parameters (PGRST100); never looks at the schema.

use super::limits::{no_nul, Budget, Limits};
use super::query_params::*;
use crate::error::Error;

/// Parses the query string (`+` is a space, as in forms) under `limits`, counted over the
/// whole query string.
pub fn parse_query(query: &str, is_routine: bool, limits: &Limits) -> Result<QueryParams, Error> {
    let mut q = QueryParams::default();
    let budget = &mut Budget::new(*limits);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let (key, value) = (key.into_owned(), value.into_owned());
        // Names reach the SQL text and values are bound as text: neither can hold a NUL.
        no_nul("query parameter name", &key)?;
        if value.contains('\0') {
            // The name of the error is only written when there is one.
            no_nul(&format!("value of the {key} parameter"), &value)?;
        }
        if let Some((path, op)) = negated_logic(&key) {
            budget.depth("embed path", path.len())?;
            q.logic.push((path, parse_logic(op == "or", true, &value, budget)?));
            continue;
        }
        let (path, last) = split_embed_path(&key);
        if matches!(last.as_str(), "order" | "limit" | "offset" | "or" | "and") {
            budget.depth("embed path", path.len())?;
        }
        match last.as_str() {
            "select" if path.is_empty() => q.select = parse_select_in(&value, budget)?,
            "columns" if path.is_empty() => {
                if value.trim().is_empty() {
                    // PostgREST's column-list parser needs at least one name.
                    return Err(Error::parse(
                        &format!("columns parameter ({value})"),
                        value.len() + 1,
                        "unexpected end of input expecting field name (* or [a..z0..9_$])",
                    ));
                }
                let columns = parse_columns(&value);
                budget.columns("columns", columns.len())?;
                q.columns = Some(columns)
            }
            "on_conflict" if path.is_empty() => {
                let columns = parse_columns(&value);
                budget.columns("on_conflict", columns.len())?;
                q.on_conflict = Some(columns)
            }
            "order" => q.order.push((path, parse_order_in(&value, budget)?)),
            "limit" | "offset" => {
                let n: i64 = value
                    .trim()
                    .parse()
                    .map_err(|_| Error::parse(&format!("{last} parameter ({value})"), 1, "expecting a number"))?;
                let i = match q.limits.iter().position(|(p, _, _)| *p == path) {
                    Some(i) => i,
                    None => {
                        q.limits.push((path, None, None));
                        q.limits.len() - 1
                    }
                };
                if last == "limit" {
                    q.limits[i].1 = Some(n);
                } else {
                    q.limits[i].2 = Some(n);
                }
            }
            "or" | "and" => q.logic.push((path, parse_logic(last == "or", false, &value, budget)?)),
            _ => {
                let (path, field_key) = split_filter_key(&key);
                budget.filter()?;
                budget.depth("embed path", path.len())?;
                if !is_routine || !path.is_empty() {
                    // A filter on an embedded resource is never a function argument.
                    q.filters.push((path, parse_filter_in(&field_key, &value, budget)?));
                } else {
                    // Maybe an argument, maybe a filter: the plan parses it, under the default
                    // limits; its JSON path is held to the request's here.
                    budget.json_path(key.matches("->").count())?;
                    q.params.push((key.clone(), value.clone()));
                }
                if !is_routine {
                    q.params.push((key.clone(), value.clone()));
                }
            }
        }
    }
    Ok(q)
}

fn parse_columns(value: &str) -> Vec<String> {
    value.split(',').map(|c| c.trim().trim_matches('"').to_string()).filter(|c| !c.is_empty()).collect()
}

/// `clients.not.or` → (["clients"], "or"); `not.and` → ([], "and").
fn negated_logic(key: &str) -> Option<(EmbedPath, &str)> {
    let (prefix, op) = if let Some(p) = key.strip_suffix("not.or") {
        (p, "or")
    } else if let Some(p) = key.strip_suffix("not.and") {
        (p, "and")
    } else {
        return None;
    };
    if prefix.is_empty() {
        return Some((vec![], op));
    }
    let prefix = prefix.strip_suffix('.')?;
    Some((prefix.split('.').map(str::to_string).collect(), op))
}

/// `clients.projects.order` → (["clients","projects"], "order").
fn split_embed_path(key: &str) -> (EmbedPath, String) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or("").to_string();
    (parts.into_iter().map(str::to_string).collect(), last)
}

/// For a filter key, the embed path is every dot-separated part before the last, but JSON
/// paths (`data->a.b`?) are not split: only dots before the first `->`.
fn split_filter_key(key: &str) -> (EmbedPath, String) {
    let head_end = key.find("->").unwrap_or(key.len());
    let head = &key[..head_end];
    match head.rfind('.') {
        Some(i) => (head[..i].split('.').map(str::to_string).collect(), key[i + 1..].to_string()),
        None => (vec![], key.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// The cursor: a small hand-written parser over chars.

struct Cursor<'a, 'b> {
    s: &'a str,
    /// The request's limits and what it has used of them.
    budget: &'b mut Budget,
    pos: usize,
    /// Added to reported columns (the text PostgREST parses starts earlier than ours).
    column_offset: usize,
    /// PostgREST's order parser quotes the unexpected character with '…', the others with "…".
    single_quotes: bool,
    /// What is being parsed, for error messages: `select parameter (…)`.
    what: String,
}

impl<'a, 'b> Cursor<'a, 'b> {
    fn new(s: &'a str, what: String, budget: &'b mut Budget) -> Cursor<'a, 'b> {
        Cursor { s, budget, pos: 0, column_offset: 0, single_quotes: false, what }
    }
    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn eat(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn error(&self, expecting: &str) -> Error {
        let col = self.s[..self.pos].chars().count() + 1 + self.column_offset;
        let found = match self.peek() {
            Some(c) if self.single_quotes => format!("unexpected '{c}'"),
            Some(c) => format!("unexpected \"{c}\""),
            None => "unexpected end of input".to_string(),
        };
        Error::parse(&self.what, col, format!("{found} expecting {expecting}"))
    }
    /// An identifier: quoted `"…"` or a run of characters that are not delimiters.
    fn ident(&mut self, stop: &[char]) -> Option<String> {
        if self.eat("\"") {
            let mut out = String::new();
            let mut chars = self.rest().char_indices();
            loop {
                let (i, c) = chars.next()?;
                if c == '"' {
                    self.pos += i + 1;
                    return Some(out);
                }
                out.push(c);
            }
        }
        let rest = self.rest();
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if stop.contains(&c) || rest[i..].starts_with("->") || rest[i..].starts_with("::") {
                end = i;
                break;
            }
        }
        if end == 0 {
            return None;
        }
        let out = rest[..end].trim().to_string();
        self.pos += end;
        if out.is_empty() {
            None
        } else {
            Some(out)
        }
    }
}

const SELECT_STOP: &[char] = &[',', '.', ':', '(', ')', '!'];

/// `data->a->>b` (the column name has already been read).
fn json_path(c: &mut Cursor, stop: &[char]) -> Result<Vec<JsonOp>, Error> {
    let mut path = Vec::new();
    loop {
        let as_text = if c.eat("->>") {
            true
        } else if c.eat("->") {
            false
        } else {
            break;
        };
        // A JSON key may hold any character but the reserved ones (`.,>()` and `:`).
        let key_stop: Vec<char> = stop.iter().copied().filter(|c| !"!".contains(*c)).chain(['>']).collect();
        let start = c.pos;
        let key = c
            .ident(&key_stop)
            .ok_or_else(|| c.error("\"-\", digit or any non reserved character different from: .,>()"))?;
        let key = match key.parse::<i64>() {
            Ok(i) => JsonKey::Index(i),
            Err(_) if key.starts_with('-') => {
                // A negative index: what follows the minus must be digits.
                let digits = key[1..].chars().take_while(char::is_ascii_digit).count();
                c.pos = start + 1 + digits;
                return Err(c.error("digit"));
            }
            Err(_) => JsonKey::Name(key),
        };
        c.budget.json_path(path.len() + 1)?;
        path.push(JsonOp { as_text, key });
    }
    Ok(path)
}

/// `::type`. The query pastes the type name into SQL as written, so it may hold only ASCII
/// letters, digits, `_`, spaces and `[]` (PostgREST: letters, digits, `_` and spaces): no
/// quote can reach the SQL. Anything else is a syntax error at that character.
fn cast(c: &mut Cursor) -> Result<Option<String>, Error> {
    if !c.eat("::") {
        return Ok(None);
    }
    let rest = c.rest();
    let end = rest.find([',', ')', '.', ':']).unwrap_or(rest.len());
    let raw = &rest[..end];
    let ty = raw.trim();
    let allowed = |ch: char| ch.is_ascii_alphanumeric() || matches!(ch, ' ' | '_' | '[' | ']');
    if let Some((i, _)) = ty.char_indices().find(|&(_, ch)| !allowed(ch)) {
        c.pos += raw.len() - raw.trim_start().len() + i;
        return Err(c.error("a type name"));
    }
    if ty.is_empty() {
        return Err(c.error("a type name"));
    }
    c.pos += end;
    Ok(Some(ty.to_string()))
}

/// The `select=` grammar, under the default [`Limits`].
pub fn parse_select(s: &str) -> Result<Vec<SelectItem>, Error> {
    no_nul("select parameter", s)?;
    parse_select_in(s, &mut Budget::new(Limits::default()))
}

fn parse_select_in(s: &str, budget: &mut Budget) -> Result<Vec<SelectItem>, Error> {
    if s.trim().is_empty() {
        return Ok(vec![SelectItem::Star]);
    }
    let mut c = Cursor::new(s, format!("select parameter ({s})"), budget);
    // As in PostgREST, the list ends where the grammar does: what follows a complete list
    // (`select=id,name)`) is ignored.
    select_list(&mut c, 0)
}

/// The items of a select list `depth` embeds deep (0 for `select=` itself).
fn select_list(c: &mut Cursor, depth: usize) -> Result<Vec<SelectItem>, Error> {
    let mut items = Vec::new();
    loop {
        c.budget.select_item()?;
        let item = select_item(c, depth)?;
        // `*` again adds nothing but as many columns again (PostgreSQL allows 1,664).
        if item != SelectItem::Star || !items.contains(&SelectItem::Star) {
            items.push(item);
        }
        if !c.eat(",") {
            break;
        }
    }
    Ok(items)
}

fn select_item(c: &mut Cursor, depth: usize) -> Result<SelectItem, Error> {
    if c.eat("*") {
        return Ok(SelectItem::Star);
    }
    let spread = c.eat("...");
    let first = c.ident(SELECT_STOP).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
    let (alias, name) = if !c.rest().starts_with("::") && c.eat(":") {
        let name = c.ident(SELECT_STOP).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
        (Some(first), name)
    } else {
        (None, first)
    };
    // count()
    if name == "count" && c.rest().starts_with("()") {
        c.eat("()");
        let cast = cast(c)?;
        return Ok(SelectItem::Count { alias, cast });
    }
    // embed: name!hint!inner(...)
    if c.peek() == Some('!') || c.peek() == Some('(') {
        let mut hint = None;
        let mut join = None;
        while c.eat("!") {
            let word = c.ident(SELECT_STOP).ok_or_else(|| c.error("hint or join type"))?;
            match word.as_str() {
                "inner" => join = Some(JoinType::Inner),
                "left" => join = Some(JoinType::Left),
                _ => hint = Some(word),
            }
        }
        if !c.eat("(") {
            return Err(c.error("\"(\""));
        }
        c.budget.depth("select parameter", depth + 1)?;
        c.budget.embed()?;
        let select = if c.eat(")") {
            vec![]
        } else {
            let items = select_list(c, depth + 1)?;
            if !c.eat(")") {
                return Err(c.error("\",\" or \")\""));
            }
            items
        };
        return Ok(SelectItem::Embed { name, alias, hint, join, spread, select });
    }
    if spread {
        return Err(c.error("\"(\""));
    }
    let json_path = json_path(c, SELECT_STOP)?;
    let cast = cast(c)?;
    let mut aggregate = None;
    let mut aggregate_cast = None;
    if c.rest().starts_with('.') {
        let save = c.pos;
        c.eat(".");
        let agg = match c.ident(SELECT_STOP).as_deref() {
            Some("count") => Some(Aggregate::Count),
            Some("sum") => Some(Aggregate::Sum),
            Some("avg") => Some(Aggregate::Avg),
            Some("min") => Some(Aggregate::Min),
            Some("max") => Some(Aggregate::Max),
            _ => None,
        };
        match agg {
            Some(a) if c.eat("()") => {
                aggregate = Some(a);
                aggregate_cast = self::cast(c)?;
            }
            _ => {
                c.pos = save;
                return Err(c.error("\",\" or end of input"));
            }
        }
    }
    Ok(SelectItem::Field { field: Field { name, json_path }, alias, cast, aggregate, aggregate_cast })
}

/// A filter value `[not.]op[(any|all)].value` on `key`, under the default [`Limits`].
pub fn parse_filter(key: &str, value: &str) -> Result<Filter, Error> {
    no_nul(&format!("filter ({key})"), key)?;
    no_nul(&format!("filter ({value})"), value)?;
    parse_filter_in(key, value, &mut Budget::new(Limits::default()))
}

/// A filter (already counted by the caller).
fn parse_filter_in(key: &str, value: &str, budget: &mut Budget) -> Result<Filter, Error> {
    let field = parse_field(key, &format!("filter ({key})"), budget)?;
    let (negated, operation) = parse_operation(value, &format!("filter ({value})"))?;
    Ok(Filter { field, negated, operation })
}

fn parse_field(s: &str, what: &str, budget: &mut Budget) -> Result<Field, Error> {
    let mut c = Cursor::new(s, what.to_string(), budget);
    let name = c.ident(&[]).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
    let json_path = json_path(&mut c, &[])?;
    if !c.at_end() {
        return Err(c.error("end of input"));
    }
    Ok(Field { name, json_path })
}

fn parse_operation(value: &str, what: &str) -> Result<(bool, Operation), Error> {
    let err = |col: usize, found: &str| {
        Error::parse(what, col, format!("{found} expecting \"not\" or operator (eq, gt, ...)"))
    };
    let (negated, rest) = match value.strip_prefix("not.") {
        Some(r) => (true, r),
        None => (false, value),
    };
    let col0 = if negated { 5 } else { 1 };
    let (op_part, operand) = rest
        .split_once('.')
        .ok_or_else(|| err(col0, &format!("unexpected \"{}\"", rest.chars().next().unwrap_or(' '))))?;
    let bad_op = || err(col0, &format!("unexpected \"{}\"", op_part.chars().next().unwrap_or(' ')));
    // op(any) / fts(english)
    let (op_name, modifier) = match op_part.split_once('(') {
        Some((o, m)) => (o, Some(m.strip_suffix(')').ok_or_else(bad_op)?)),
        None => (op_part, None),
    };
    let operation = match op_name {
        "in" if modifier.is_none() => Operation::In(
            parse_in_list(operand)
                .ok_or_else(|| Error::parse(what, col0 + 3, "unexpected end of input expecting \"(\""))?,
        ),
        "is" if modifier.is_none() => Operation::Is(match operand.to_lowercase().as_str() {
            "null" => IsValue::Null,
            "not_null" => IsValue::NotNull,
            "true" => IsValue::True,
            "false" => IsValue::False,
            "unknown" => IsValue::Unknown,
            _ => {
                return Err(Error::parse(
                    what,
                    col0 + 3,
                    "unexpected value expecting null or trilean value (unknown, true, false)",
                ))
            }
        }),
        "fts" | "plfts" | "phfts" | "wfts" => Operation::Fts {
            op: match op_name {
                "fts" => FtsOp::Fts,
                "plfts" => FtsOp::Plfts,
                "phfts" => FtsOp::Phfts,
                _ => FtsOp::Wfts,
            },
            language: modifier.map(str::to_string),
            value: operand.to_string(),
        },
        other => {
            let op = CmpOp::parse(other).ok_or_else(bad_op)?;
            let quantifier = match modifier {
                None => None,
                Some("any") if op.supports_quantifier() => Some(Quantifier::Any),
                Some("all") if op.supports_quantifier() => Some(Quantifier::All),
                Some(_) => return Err(bad_op()),
            };
            Operation::Compare { op, quantifier, value: operand.to_string() }
        }
    };
    Ok((negated, operation))
}

/// `(a,b,"c,d")` → values; double quotes protect commas and parentheses, `\` escapes.
fn parse_in_list(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?;
    if inner.trim().is_empty() {
        return Some(vec![]);
    }
    Some(split_list(inner))
}

/// Splits an `in.(…)` list on commas. An element that starts with `"` and has a closing `"`
/// before the next comma is quoted (`\` escapes inside); anything else is taken literally.
fn split_list(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    if chars.is_empty() {
        return out;
    }
    let mut i = 0;
    loop {
        let start = i;
        let mut element: Option<String> = None;
        if chars.get(i) == Some(&'"') {
            let mut v = String::new();
            let mut j = i + 1;
            while j < chars.len() {
                match chars[j] {
                    '\\' if j + 1 < chars.len() => {
                        v.push(chars[j + 1]);
                        j += 2;
                    }
                    '"' => break,
                    c => {
                        v.push(c);
                        j += 1;
                    }
                }
            }
            if j < chars.len() && matches!(chars.get(j + 1), None | Some(',')) {
                element = Some(v);
                i = j + 1;
            }
        }
        let value = match element {
            Some(v) => v,
            None => {
                i = start;
                let mut v = String::new();
                while i < chars.len() && chars[i] != ',' {
                    v.push(chars[i]);
                    i += 1;
                }
                // Unquoted elements are trimmed, as PostgREST does.
                v.trim().to_string()
            }
        };
        out.push(value);
        if i >= chars.len() {
            break;
        }
        i += 1; // the comma
    }
    out
}

/// `or=(a.eq.1,and(b.gt.2,c.is.null))`.
fn parse_logic(or: bool, negated: bool, value: &str, budget: &mut Budget) -> Result<LogicTree, Error> {
    budget.filter()?;
    let mut c = Cursor::new(value, format!("logic tree ({value})"), budget);
    // PostgREST parses `or(…)`: its columns count from the operator's first letter.
    c.column_offset = if or { 2 } else { 3 } + if negated { 4 } else { 0 };
    if !c.eat("(") {
        return Err(c.error("\"(\""));
    }
    let children = logic_children(&mut c, 1)?;
    // Like PostgREST, text after the closing parenthesis is ignored.
    if !c.eat(")") {
        return Err(c.error("\",\" or \")\""));
    }
    Ok(LogicTree::Expr { negated, or, children })
}

/// The terms of a logic tree's operator `depth` levels deep (1 for the parameter's own).
fn logic_children(c: &mut Cursor, depth: usize) -> Result<Vec<LogicTree>, Error> {
    let mut children = Vec::new();
    loop {
        c.budget.filter()?;
        children.push(logic_item(c, depth)?);
        if !c.eat(",") {
            break;
        }
    }
    Ok(children)
}

fn logic_item(c: &mut Cursor, depth: usize) -> Result<LogicTree, Error> {
    c.skip_spaces();
    let rest = c.rest();
    for (prefix, negated, or) in
        [("not.or", true, true), ("not.and", true, false), ("or", false, true), ("and", false, false)]
    {
        if let Some(after) = rest.strip_prefix(prefix) {
            let trimmed = after.trim_start();
            if trimmed.starts_with('(') {
                c.pos += prefix.len() + (after.len() - trimmed.len()) + 1;
                c.budget.depth("logic tree", depth + 1)?;
                let children = logic_children(c, depth + 1)?;
                c.skip_spaces();
                if !c.eat(")") {
                    return Err(c.error("\",\" or \")\""));
                }
                c.skip_spaces();
                return Ok(LogicTree::Expr { negated, or, children });
            }
        }
    }
    // field.op.value up to the next top-level ',' or ')'.
    let start = c.pos;
    let mut depth = 0;
    let mut quoted = false;
    let mut end = rest.len();
    for (i, ch) in rest.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '(' | '{' if !quoted => depth += 1,
            '}' if !quoted => depth -= 1,
            ')' if !quoted && depth == 0 => {
                end = i;
                break;
            }
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let stmt = rest[..end].trim();
    if stmt.is_empty() {
        return Err(c.error("field name (* or [a..z0..9_$]), negation operator (not) or logic operator (and, or)"));
    }
    c.pos = start + end;
    let head_end = stmt.find("->").unwrap_or(stmt.len());
    let dot = stmt[..head_end]
        .find('.')
        .or_else(|| stmt[head_end..].find('.').map(|i| i + head_end))
        .ok_or_else(|| c.error("operator"))?;
    // JSON path fields: `data->>a.eq.1`: the field ends at the first '.' after the path.
    let (key, value) = (&stmt[..dot], &stmt[dot + 1..]);
    let value = unquote_logic_value(value);
    Ok(LogicTree::Stmt(parse_filter_in(key, &value, c.budget)?))
}

/// Inside logic trees a value may be double-quoted: `name.eq."a,b"`.
fn unquote_logic_value(v: &str) -> String {
    // Keep quotes inside in.(…) lists: parse_in_list handles them.
    if let Some(dot) = v.rfind('.') {
        let (op, val) = (&v[..dot], &v[dot + 1..]);
        if val.len() >= 2 && val.starts_with('"') && val.ends_with('"') && !op.ends_with("in") {
            return format!("{op}.{}", &val[1..val.len() - 1]);
        }
    }
    v.to_string()
}

/// The `order=` grammar: `a.desc.nullslast,b,rel(c).asc`, under the default [`Limits`].
pub fn parse_order(s: &str) -> Result<Vec<OrderTerm>, Error> {
    no_nul("order", s)?;
    parse_order_in(s, &mut Budget::new(Limits::default()))
}

fn parse_order_in(s: &str, budget: &mut Budget) -> Result<Vec<OrderTerm>, Error> {
    let mut terms = Vec::new();
    let what = format!("order ({s})");
    let mut c = Cursor::new(s, what, budget);
    c.single_quotes = true;
    loop {
        c.budget.filter()?;
        let name = c.ident(&[',', '.', '(', ')']).ok_or_else(|| c.error("field name (* or [a..z0..9_$])"))?;
        let target = if c.eat("(") {
            let col = c.ident(&[',', '.', '(', ')']).ok_or_else(|| c.error("field name"))?;
            let path = json_path(&mut c, &[',', '.', '(', ')'])?;
            if !c.eat(")") {
                return Err(c.error("\")\""));
            }
            OrderTarget::Related { relation: name, field: Field { name: col, json_path: path } }
        } else {
            let path = json_path(&mut c, &[',', '.', '(', ')'])?;
            OrderTarget::Field(Field { name, json_path: path })
        };
        let mut term = OrderTerm { target, descending: None, nulls_first: None };
        while c.rest().starts_with('.') {
            let save = c.pos;
            c.eat(".");
            let word_end = c.rest().find([',', '.']).unwrap_or(c.rest().len());
            let word = &c.rest()[..word_end];
            match word {
                "asc" if term.descending.is_none() && term.nulls_first.is_none() => term.descending = Some(false),
                "desc" if term.descending.is_none() && term.nulls_first.is_none() => term.descending = Some(true),
                "nullsfirst" if term.nulls_first.is_none() => term.nulls_first = Some(true),
                "nullslast" if term.nulls_first.is_none() => term.nulls_first = Some(false),
                _ => {
                    // Point at the first character that breaks the grammar.
                    let known = ["asc", "desc", "nullsfirst", "nullslast"];
                    let matched = known.iter().filter(|k| word.starts_with(*k)).map(|k| k.len()).max();
                    c.pos = match matched {
                        Some(n) => save + 1 + n,
                        None => save + 1,
                    };
                    let expecting = if matched.is_some() {
                        "\",\" or end of input"
                    } else {
                        "\"asc\", \"desc\", \"nullsfirst\" or \"nullslast\""
                    };
                    return Err(c.error(expecting));
                }
            }
            c.pos += word_end;
        }
        terms.push(term);
        if c.at_end() {
            break;
        }
        if !c.eat(",") {
            return Err(c.error("\",\" or end of input"));
        }
    }
    Ok(terms)
}
