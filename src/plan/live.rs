//! Live subscriptions: whether a request asks for one (`Accept: text/event-stream` first), and
//! which relations' changes concern it.
//!
//! In charge of: the decision only. A subscription is a `GET` (or `HEAD`) of a table or view,
//! whose read is the request as it would be answered in JSON (select, filters, order, embeds,
//! `Range`, profiles all apply). Rejects: `text/event-stream` for anything else (a write, a
//! function, the root) with PGRST107 (406), as before live updates existed. The events
//! themselves are [`crate::db::live`]'s.

use super::{plan, Action};
use crate::api_request::{ApiRequest, MediaType, Method, Target};
use crate::config::Config;
use crate::error::Error;
use crate::schema_cache::{QualifiedName, RelKind, SchemaCache};
use std::collections::BTreeSet;

/// The media type of a subscription.
pub const EVENT_STREAM: &str = "text/event-stream";

/// A request that subscribes to its read's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The relations whose changes may change the result, as `schema.name` (the payload of
    /// the change triggers' `NOTIFY`); `None` when any change may (a view, a computed
    /// relationship, a foreign table: what they read is not known here).
    pub relations: Option<BTreeSet<String>>,
}

/// `Some` when the request's most preferred media type is `text/event-stream` and it reads a
/// table or view; PGRST107 when that media type is asked of anything else, or any error the
/// read itself would get (checked now, so a bad subscription fails before it streams).
pub fn subscription(config: &Config, cache: &SchemaCache, req: &ApiRequest) -> Result<Option<Subscription>, Error> {
    if req.accept.first().is_none_or(|m| m.text() != EVENT_STREAM) {
        return Ok(None);
    }
    let not_acceptable = || {
        Error::MediaType(req.headers.iter().find(|(k, _)| k == "accept").map(|(_, v)| v.clone()).unwrap_or_default())
    };
    if !matches!(req.method, Method::Get | Method::Head) || !matches!(req.target, Target::Relation(_)) {
        return Err(not_acceptable());
    }
    let mut json = req.clone();
    json.accept = vec![MediaType::Json];
    let planned = plan(config, cache, &json)?;
    let Action::Read { table, shape } = &planned.action else {
        return Err(not_acceptable());
    };
    let mut names = BTreeSet::new();
    let exact = relation(cache, table, &mut names) && embeds(cache, &shape.embeds, &mut names);
    Ok(Some(Subscription { relations: exact.then_some(names) }))
}

/// Adds `name`; false when its changes cannot be known from its own triggers (not a table).
fn relation(cache: &SchemaCache, name: &QualifiedName, out: &mut BTreeSet<String>) -> bool {
    out.insert(format!("{}.{}", name.schema, name.name));
    cache.table(&name.schema, &name.name).is_some_and(|t| matches!(t.kind, RelKind::Table | RelKind::Partitioned))
}

fn embeds(cache: &SchemaCache, list: &[super::read::Embed], out: &mut BTreeSet<String>) -> bool {
    list.iter().all(|e| {
        let r = &e.relationship;
        let junction =
            r.junction.as_ref().is_none_or(|j| relation(cache, &QualifiedName::new(&j.schema, &j.name), out));
        r.function.is_none() && junction && relation(cache, &e.target, out) && embeds(cache, &e.shape.embeds, out)
    })
}
