//! `Prefer` → [`Preferences`] (PostgREST's `Preferences`).
//!
//! In charge of each preference's one text form (`return=minimal`, `count=exact`…), used both
//! to read the header and to write `Preference-Applied`. Rejects nothing: unknown or malformed
//! preferences are collected in `invalid` (an error only with `handling=strict`, the plan's
//! call).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

#[derive(Debug, Clone, Default)]
pub struct Preferences {
    pub return_: Option<ReturnPref>,
    pub count: Option<CountPref>,
    pub resolution: Option<Resolution>,
    pub missing_default: bool,
    pub strict: bool,
    /// `Some(true)` for `tx=commit`, `Some(false)` for `tx=rollback`.
    pub tx_commit: Option<bool>,
    pub max_affected: Option<i64>,
    pub timezone: Option<String>,
    pub single_object: bool,
    /// Preferences that were understood, in PostgREST's `Preference-Applied` form.
    pub applied: Vec<String>,
    pub invalid: Vec<String>,
}

pub(super) fn parse_preferences<'a>(values: impl Iterator<Item = &'a str>) -> Preferences {
    let mut p = Preferences::default();
    for item in values.flat_map(|v| v.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').map(|(k, v)| (k.trim(), v.trim())).unwrap_or((item, ""));
        let ok = match (k, v) {
            ("return", "minimal") => set(&mut p.return_, ReturnPref::Minimal),
            ("return", "headers-only") => set(&mut p.return_, ReturnPref::HeadersOnly),
            ("return", "representation") => set(&mut p.return_, ReturnPref::Representation),
            ("count", "exact") => set(&mut p.count, CountPref::Exact),
            ("count", "planned") => set(&mut p.count, CountPref::Planned),
            ("count", "estimated") => set(&mut p.count, CountPref::Estimated),
            ("resolution", "merge-duplicates") => set(&mut p.resolution, Resolution::MergeDuplicates),
            ("resolution", "ignore-duplicates") => set(&mut p.resolution, Resolution::IgnoreDuplicates),
            ("missing", "default") => {
                p.missing_default = true;
                true
            }
            ("missing", "null") => true,
            ("handling", "strict") => {
                p.strict = true;
                true
            }
            ("handling", "lenient") => true,
            ("tx", "commit") => set(&mut p.tx_commit, true),
            ("tx", "rollback") => set(&mut p.tx_commit, false),
            ("max-affected", n) => match n.parse::<i64>() {
                Ok(n) => set(&mut p.max_affected, n),
                Err(_) => false,
            },
            ("timezone", tz) if !tz.is_empty() => set(&mut p.timezone, tz.to_string()),
            ("params", "single-object") => {
                p.single_object = true;
                true
            }
            _ => false,
        };
        if ok {
            if !p.applied.iter().any(|a| a == item) {
                p.applied.push(item.to_string());
            }
        } else {
            p.invalid.push(item.to_string());
        }
    }
    p
}

fn set<T>(slot: &mut Option<T>, v: T) -> bool {
    if slot.is_none() {
        *slot = Some(v);
    }
    true
}
