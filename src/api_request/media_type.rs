//! `Accept` → media types, most preferred first (PostgREST's `MediaType` parsing).
//!
//! In charge of `q` ordering and of the media-type parameters that change the answer
//! (`nulls=stripped`, a plan's `for=`/`options=`). Rejects nothing: which type can be served
//! is the plan's question. Today the media types are strings; a typed enum comes later.

/// `Accept` → media types ordered by preference (`q`), without parameters.
pub(super) fn parse_accept(accept: Option<&str>) -> Vec<String> {
    let Some(accept) = accept else {
        return vec!["*/*".into()];
    };
    let mut items: Vec<(f32, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(i, part)| {
            let mut pieces = part.split(';');
            let media = pieces.next()?.trim().to_lowercase();
            if media.is_empty() {
                return None;
            }
            let params: Vec<String> = pieces.map(|p| p.trim().to_lowercase()).collect();
            let q = params.iter().find_map(|p| p.strip_prefix("q=")?.trim().parse::<f32>().ok()).unwrap_or(1.0);
            // The one media-type parameter that changes the answer: `nulls=stripped`.
            let media = if media.starts_with("application/vnd.pgrst.plan") {
                // `for` and `options` choose what is explained and how: keep them.
                let kept: Vec<&str> = params
                    .iter()
                    .map(|p| p.trim_end_matches(';'))
                    .filter(|p| p.starts_with("for=") || p.starts_with("options="))
                    .collect();
                std::iter::once(media.as_str()).chain(kept).collect::<Vec<_>>().join(";")
            } else if params.iter().any(|p| p == "nulls=stripped") {
                format!("{media};nulls=stripped")
            } else {
                media
            };
            Some((q, i, media))
        })
        .filter(|(q, _, _)| *q > 0.0)
        .collect();
    items.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
    if items.is_empty() {
        return vec!["*/*".into()];
    }
    items.into_iter().map(|(_, _, m)| m).collect()
}
