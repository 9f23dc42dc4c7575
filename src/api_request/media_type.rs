//! `Accept` and `Content-Type` → [`MediaType`]s, most preferred first (PostgREST's
//! `MediaType` parsing).
//!
//! In charge of `q` ordering, of each media type's one text form, and of the media-type
//! parameters that change the answer (`nulls=stripped`, a plan's `for=`/`options=`). Rejects
//! nothing: which type can be served is the plan's question. Media types tusk has no use for
//! stay representable as [`MediaType::Other`]: handlers, media-type domains and
//! `raw-media-types` name arbitrary ones.

use std::borrow::Cow;

/// A media type of `Accept` or `Content-Type`, lowercased, without `q`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaType {
    /// `*/*`
    Any,
    /// `application/*`
    AnyApplication,
    /// `application/json`
    Json,
    /// `application/vnd.pgrst.array+json`: JSON, unless it strips nulls.
    Array(Vnd),
    /// `application/vnd.pgrst.object+json`: exactly one row, as an object.
    Object(Vnd),
    /// `application/geo+json`
    GeoJson,
    /// `text/csv`
    Csv,
    /// `text/plain`
    TextPlain,
    /// `text/xml`
    TextXml,
    /// `application/openapi+json`
    OpenApi,
    /// `application/x-www-form-urlencoded`
    UrlEncoded,
    /// `application/octet-stream`
    OctetStream,
    /// `application/vnd.pgrst.plan[+text|+json]`: the EXPLAIN of the request.
    Plan(PlanRequest),
    /// Any other, with `;nulls=stripped` when given (then it matches nothing PostgREST knows).
    Other(String),
}

/// The parameters of PostgREST's vendor JSON types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vnd {
    /// `nulls=stripped`: null-valued keys left out.
    pub strip_nulls: bool,
    /// Written with the `+json` suffix (both spellings mean the same).
    pub json_suffix: bool,
}

/// `application/vnd.pgrst.plan`'s format and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanRequest {
    pub format: PlanFormat,
    /// `for="…"`: the media type explained (`vnd.pgrst.object` spelled with `+json`).
    pub for_media: Option<String>,
    /// `options=a|b`: EXPLAIN's options.
    pub options: Option<Vec<String>>,
}

/// The EXPLAIN output asked for: the suffix of `application/vnd.pgrst.plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFormat {
    /// No suffix: text.
    Unspecified,
    Text,
    Json,
}

impl PlanFormat {
    /// The type with this suffix.
    fn essence(self) -> &'static str {
        match self {
            PlanFormat::Unspecified => "application/vnd.pgrst.plan",
            PlanFormat::Text => "application/vnd.pgrst.plan+text",
            PlanFormat::Json => "application/vnd.pgrst.plan+json",
        }
    }
}

impl MediaType {
    /// One media type: `essence` is `type/subtype` lowercased, `params` its lowercased
    /// parameters.
    pub fn parse(essence: &str, params: &[&str]) -> MediaType {
        use MediaType::*;
        let strip_nulls = params.contains(&"nulls=stripped");
        let vnd = |json_suffix| Vnd { strip_nulls, json_suffix };
        let plan = |format| Plan(PlanRequest::parse(format, params));
        let media = match essence {
            "application/vnd.pgrst.array+json" => return Array(vnd(true)),
            "application/vnd.pgrst.array" => return Array(vnd(false)),
            "application/vnd.pgrst.object+json" => return Object(vnd(true)),
            "application/vnd.pgrst.object" => return Object(vnd(false)),
            "application/vnd.pgrst.plan" => return plan(PlanFormat::Unspecified),
            "application/vnd.pgrst.plan+text" => return plan(PlanFormat::Text),
            "application/vnd.pgrst.plan+json" => return plan(PlanFormat::Json),
            "*/*" => Any,
            "application/*" => AnyApplication,
            "application/json" => Json,
            "application/geo+json" => GeoJson,
            "text/csv" => Csv,
            "text/plain" => TextPlain,
            "text/xml" => TextXml,
            "application/openapi+json" => OpenApi,
            "application/x-www-form-urlencoded" => UrlEncoded,
            "application/octet-stream" => OctetStream,
            other if other.starts_with("application/vnd.pgrst.plan") => {
                // An unknown plan format keeps the plan's parameters.
                let kept = params.iter().filter(|p| p.starts_with("for=") || p.starts_with("options="));
                return Other(std::iter::once(other).chain(kept.copied()).collect::<Vec<_>>().join(";"));
            }
            other => Other(other.to_string()),
        };
        if strip_nulls {
            Other(format!("{};nulls=stripped", media.text()))
        } else {
            media
        }
    }

    /// The one text form, as in `Accept` (lowercased, without `q`).
    pub fn text(&self) -> Cow<'_, str> {
        use MediaType::*;
        Cow::Borrowed(match self {
            Any => "*/*",
            AnyApplication => "application/*",
            Json => "application/json",
            Array(v) => match (v.json_suffix, v.strip_nulls) {
                (true, false) => "application/vnd.pgrst.array+json",
                (true, true) => "application/vnd.pgrst.array+json;nulls=stripped",
                (false, false) => "application/vnd.pgrst.array",
                (false, true) => "application/vnd.pgrst.array;nulls=stripped",
            },
            Object(v) => match (v.json_suffix, v.strip_nulls) {
                (true, false) => "application/vnd.pgrst.object+json",
                (true, true) => "application/vnd.pgrst.object+json;nulls=stripped",
                (false, false) => "application/vnd.pgrst.object",
                (false, true) => "application/vnd.pgrst.object;nulls=stripped",
            },
            GeoJson => "application/geo+json",
            Csv => "text/csv",
            TextPlain => "text/plain",
            TextXml => "text/xml",
            OpenApi => "application/openapi+json",
            UrlEncoded => "application/x-www-form-urlencoded",
            OctetStream => "application/octet-stream",
            Plan(p) => return Cow::Owned(p.text()),
            Other(m) => m,
        })
    }
}

impl PlanRequest {
    fn parse(format: PlanFormat, params: &[&str]) -> PlanRequest {
        let mut plan = PlanRequest { format, for_media: None, options: None };
        for p in params {
            if let Some(f) = p.strip_prefix("for=") {
                let f = f.trim_matches('"');
                let f = if f == "application/vnd.pgrst.object" { "application/vnd.pgrst.object+json" } else { f };
                plan.for_media = Some(f.to_string());
            } else if let Some(o) = p.strip_prefix("options=") {
                plan.options = Some(o.split('|').filter(|o| !o.is_empty()).map(str::to_string).collect());
            }
        }
        plan
    }

    fn text(&self) -> String {
        let mut text = String::from(self.format.essence());
        if let Some(f) = &self.for_media {
            text.push_str(&format!(";for=\"{f}\""));
        }
        if let Some(o) = &self.options {
            text.push_str(&format!(";options={}", o.join("|")));
        }
        text
    }
}

/// `Accept` → media types ordered by preference (`q`); `*/*` when absent or empty.
pub(super) fn parse_accept(accept: Option<&str>) -> Vec<MediaType> {
    let Some(accept) = accept else {
        return vec![MediaType::Any];
    };
    let mut items: Vec<(f32, usize, MediaType)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let essence = pieces.next()?.trim().to_lowercase();
            if essence.is_empty() {
                return None;
            }
            let params: Vec<String> = pieces.map(|p| p.trim().to_lowercase()).collect();
            let q = params.iter().find_map(|p| p.strip_prefix("q=")?.trim().parse::<f32>().ok()).unwrap_or(1.0);
            let params: Vec<&str> = params.iter().map(|p| p.trim_end_matches(';')).collect();
            Some((q, i, MediaType::parse(&essence, &params)))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
    if items.is_empty() {
        return vec![MediaType::Any];
    }
    items.into_iter().map(|(_, _, m)| m).collect()
}

/// `Content-Type` → its media type, without parameters; JSON when absent or empty.
pub(super) fn parse_content_type(content_type: Option<&str>) -> MediaType {
    let essence = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_lowercase());
    match essence.filter(|c| !c.is_empty()) {
        Some(c) => MediaType::parse(&c, &[]),
        None => MediaType::Json,
    }
}
