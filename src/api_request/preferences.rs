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

impl ReturnPref {
    pub const ALL: [ReturnPref; 3] = [ReturnPref::Minimal, ReturnPref::HeadersOnly, ReturnPref::Representation];

    /// The one text form, as in `Prefer` and `Preference-Applied`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnPref::Minimal => "return=minimal",
            ReturnPref::HeadersOnly => "return=headers-only",
            ReturnPref::Representation => "return=representation",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountPref {
    Exact,
    Planned,
    Estimated,
}

impl CountPref {
    pub const ALL: [CountPref; 3] = [CountPref::Exact, CountPref::Planned, CountPref::Estimated];

    /// The one text form, as in `Prefer` and `Preference-Applied`.
    pub fn as_str(self) -> &'static str {
        match self {
            CountPref::Exact => "count=exact",
            CountPref::Planned => "count=planned",
            CountPref::Estimated => "count=estimated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    MergeDuplicates,
    IgnoreDuplicates,
}

impl Resolution {
    pub const ALL: [Resolution; 2] = [Resolution::MergeDuplicates, Resolution::IgnoreDuplicates];

    /// The one text form, as in `Prefer` and `Preference-Applied`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::MergeDuplicates => "resolution=merge-duplicates",
            Resolution::IgnoreDuplicates => "resolution=ignore-duplicates",
        }
    }
}

/// The variant of `all` whose text form is `key=value`.
fn from_text<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, key: &str, value: &str) -> Option<T> {
    all.iter().copied().find(|&v| as_str(v).split_once('=') == Some((key, value)))
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
        let ok = if let Some(r) = from_text(&ReturnPref::ALL, ReturnPref::as_str, k, v) {
            set(&mut p.return_, r)
        } else if let Some(c) = from_text(&CountPref::ALL, CountPref::as_str, k, v) {
            set(&mut p.count, c)
        } else if let Some(r) = from_text(&Resolution::ALL, Resolution::as_str, k, v) {
            set(&mut p.resolution, r)
        } else {
            other_preference(&mut p, k, v)
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

/// The preferences that are flags or carry a value: `true` when understood.
fn other_preference(p: &mut Preferences, key: &str, value: &str) -> bool {
    match (key, value) {
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
    }
}

fn set<T>(slot: &mut Option<T>, v: T) -> bool {
    if slot.is_none() {
        *slot = Some(v);
    }
    true
}
