//! How much structure one request may build: nesting depth, embeds, select items and filters
//! (tusk's own `request-max-*` settings; PostgREST has none).
//!
//! In charge of the limits and of counting against them while the grammar parses, so that no
//! request can overflow a stack (the parser, planner, renderer and `Drop` all recurse over these
//! trees), make PostgreSQL answer 5xx (54001 stack depth, 54011 too many columns) or keep its
//! planner busy for seconds. Past a limit the answer is 400 PGRST100 naming the limit and its
//! setting. Also refuses NUL characters, which no PostgreSQL text can hold.

use crate::config::setting;
use crate::error::Error;

/// The limits one request is parsed under. `Default` carries the documented defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `request-max-depth`: how deep logic trees (`or=(or(…))`), embeds in `select=`
    /// (`a(b(c(…)))`) and embed paths (`a.b.c.order=`) nest, and how many keys a JSON path
    /// (`data->a->b…`) has.
    pub max_depth: usize,
    /// `request-max-embeds`: embedded resources in `select=`, at all levels together.
    pub max_embeds: usize,
    /// `request-max-select-items`: items of `select=` at all levels together (each embed is
    /// one, and so is each item inside it), and names in `columns=`.
    pub max_select_items: usize,
    /// `request-max-filters`: filters (and function arguments in the query string), terms of
    /// logic trees (each `or(…)`/`and(…)` and each condition in them) and `order=` terms, all
    /// together.
    pub max_filters: usize,
}

impl Default for Limits {
    /// The defaults of the `request-max-*` settings, as their rows in `config` declare them.
    fn default() -> Limits {
        let default = |name: &str| {
            setting(name).and_then(|s| s.default).and_then(|d| d.parse().ok()).expect("a request-max-* default")
        };
        Limits {
            max_depth: default("request-max-depth"),
            max_embeds: default("request-max-embeds"),
            max_select_items: default("request-max-select-items"),
            max_filters: default("request-max-filters"),
        }
    }
}

/// What one request has used of its [`Limits`] so far.
#[derive(Debug)]
pub(super) struct Budget {
    pub limits: Limits,
    embeds: usize,
    select_items: usize,
    filters: usize,
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget { limits, embeds: 0, select_items: 0, filters: 0 }
    }

    /// One more select item.
    pub fn select_item(&mut self) -> Result<(), Error> {
        self.select_items += 1;
        if self.select_items > self.limits.max_select_items {
            return Err(too_many("select items", self.limits.max_select_items, "request-max-select-items"));
        }
        Ok(())
    }

    /// One more embedded resource.
    pub fn embed(&mut self) -> Result<(), Error> {
        self.embeds += 1;
        if self.embeds > self.limits.max_embeds {
            return Err(too_many("embedded resources", self.limits.max_embeds, "request-max-embeds"));
        }
        Ok(())
    }

    /// A list of `n` names in `columns=` or `on_conflict=` (held to the select items' limit:
    /// each is a column of the query).
    pub fn columns(&self, param: &str, n: usize) -> Result<(), Error> {
        if n > self.limits.max_select_items {
            let what = format!("names in {param}");
            return Err(too_many(&what, self.limits.max_select_items, "request-max-select-items"));
        }
        Ok(())
    }

    /// One more filter, logic tree term or order term.
    pub fn filter(&mut self) -> Result<(), Error> {
        self.filters += 1;
        if self.filters > self.limits.max_filters {
            return Err(too_many(
                "filters, logic tree terms and order terms",
                self.limits.max_filters,
                "request-max-filters",
            ));
        }
        Ok(())
    }

    /// Nesting `depth` levels deep in `what` (e.g. "select parameter"), 1 for the first level.
    pub fn depth(&self, what: &str, depth: usize) -> Result<(), Error> {
        if depth > self.limits.max_depth {
            return Err(Error::Parse {
                message: format!("The {what} nests more than {} levels deep", self.limits.max_depth),
                details: format!("The limit is {} (request-max-depth)", self.limits.max_depth),
            });
        }
        Ok(())
    }

    /// A JSON path of `keys` keys.
    pub fn json_path(&self, keys: usize) -> Result<(), Error> {
        if keys > self.limits.max_depth {
            return Err(Error::Parse {
                message: format!("The JSON path has more than {} keys", self.limits.max_depth),
                details: format!("The limit is {} (request-max-depth)", self.limits.max_depth),
            });
        }
        Ok(())
    }
}

fn too_many(what: &str, limit: usize, setting: &str) -> Error {
    Error::Parse {
        message: format!("The request has more than {limit} {what}"),
        details: format!("The limit is {limit} ({setting})"),
    }
}

/// Refuses a NUL character in `text` (a name or value taken from `what`): PostgreSQL text
/// cannot hold one, and the driver cannot even send one in a statement's text.
pub(super) fn no_nul(what: &str, text: &str) -> Result<(), Error> {
    match text.find('\0') {
        None => Ok(()),
        Some(i) => Err(Error::Parse {
            message: format!("\"failed to parse {what}\" (line 1, column {})", text[..i].chars().count() + 1),
            details: "unexpected NUL character (%00): PostgreSQL text cannot contain it".to_string(),
        }),
    }
}
