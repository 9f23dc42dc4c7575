//! Approximate string matching for PostgREST's "Perhaps you meant …" hints.
//!
//! PostgREST picks its suggestions with a fuzzy string set (the `fuzzyset` library): candidates
//! that share character n-grams with the query (trigrams first, bigrams when no trigram
//! matches) are ranked by the n-gram vectors' cosine similarity, the best 50 re-ranked by
//! normalized Levenshtein similarity, and the best one scoring at least the threshold wins.
//! The same ranking here gives the same hints. This is the one matcher of every hint: names of
//! tables and functions ([`NAME_SCORE`], as PostgREST since 14.6, so a hint cannot be used to
//! list a schema's relations), an embed's related tables and parameter lists ([`MIN_SCORE`]).

use std::collections::HashMap;

/// The lowest score a suggestion may have: fuzzyset's default.
pub const MIN_SCORE: f64 = 0.33;

/// The lowest score of a suggested table or function name (PostgREST 14.6, its #4675): a typo,
/// not a name merely alike.
pub const NAME_SCORE: f64 = 0.75;

/// The candidate closest to `query` scoring at least [`MIN_SCORE`].
pub fn closest<'a>(candidates: &[&'a str], query: &str) -> Option<&'a str> {
    closest_scoring(candidates, query, MIN_SCORE)
}

/// The candidate closest to `query`, if any scores at least `min_score`. Candidates compare
/// without case; of candidates equal but for case, the first one counts.
pub fn closest_scoring<'a>(candidates: &[&'a str], query: &str, min_score: f64) -> Option<&'a str> {
    let key = query.to_lowercase();
    let mut seen = std::collections::HashSet::new();
    let entries: Vec<(&'a str, String)> =
        candidates.iter().map(|c| (*c, c.to_lowercase())).filter(|(_, l)| seen.insert(l.clone())).collect();
    if let Some((c, _)) = entries.iter().find(|(_, l)| *l == key) {
        return Some(c);
    }
    for size in [3, 2] {
        let q = gram_counts(&key, size);
        let q_norm = norm(&q);
        let mut scored: Vec<(f64, usize)> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, (_, l))| {
                let g = gram_counts(l, size);
                let dot: usize = q.iter().map(|(gram, n)| n * g.get(gram).copied().unwrap_or(0)).sum();
                (dot > 0).then(|| (dot as f64 / (q_norm * norm(&g)), i))
            })
            .collect();
        sort_desc(&mut scored);
        scored.truncate(50);
        let mut rescored: Vec<(f64, usize)> =
            scored.into_iter().map(|(_, i)| (levenshtein_similarity(&key, &entries[i].1), i)).collect();
        sort_desc(&mut rescored);
        if let Some((_, i)) = rescored.into_iter().find(|(s, _)| *s >= min_score) {
            return Some(entries[i].0);
        }
    }
    None
}

/// Highest score first; equal scores keep the candidates' order.
fn sort_desc(v: &mut [(f64, usize)]) {
    v.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
}

/// How often each n-gram of the normalized text (lowercase letters, digits, spaces and commas,
/// between two `-`) occurs.
fn gram_counts(text: &str, size: usize) -> HashMap<String, usize> {
    let normalized: String =
        text.to_lowercase().chars().filter(|c| c.is_alphanumeric() || c.is_whitespace() || *c == ',').collect();
    let chars: Vec<char> = std::iter::once('-').chain(normalized.chars()).chain(std::iter::once('-')).collect();
    let mut out = HashMap::new();
    if chars.len() >= size {
        for w in chars.windows(size) {
            *out.entry(w.iter().collect::<String>()).or_insert(0) += 1;
        }
    }
    out
}

fn norm(v: &HashMap<String, usize>) -> f64 {
    (v.values().map(|n| n * n).sum::<usize>() as f64).sqrt()
}

/// 1 − (Levenshtein distance / length of the longer string), over characters.
fn levenshtein_similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    1.0 - prev[b.len()] as f64 / longest as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_like_postgrest() {
        // Function names (PostgREST's doctests and spec cases).
        let procs = ["test", "another"];
        assert_eq!(closest(&procs, "testt"), Some("test"));
        assert_eq!(closest(&procs, "other"), Some("another"));
        assert_eq!(closest(&procs, "noclosealternative"), None);
        assert_eq!(closest(&["sayhello", "sayhello_variadic", "add_them"], "sayhell"), Some("sayhello"));
        // Parameter lists, sorted and parenthesized.
        let params = ["(name, param, val)", "(attr, id)"];
        assert_eq!(closest(&params, "(nam, pqaram, vall)"), Some("(name, param, val)"));
        assert_eq!(closest(&params, "(param, val)"), Some("(name, param, val)"));
        assert_eq!(closest(&params, "(attrs, id)"), Some("(attr, id)"));
        assert_eq!(closest(&params, "(id)"), Some("(attr, id)"));
        assert_eq!(closest(&params, "(noclosealternative)"), None);
        let overloaded = ["()", "()", "(a, b)", "(a, b, c)"];
        assert_eq!(closest(&overloaded, "(a, b, wrong_arg)"), Some("(a, b, c)"));
        assert_eq!(closest(&overloaded, "(wrong_arg)"), None);
        assert_eq!(closest(&["(data)"], "(A, B, C)"), None);
        assert_eq!(closest(&["()", "()", "()", "()", "(x, y)"], "(a, b)"), Some("(x, y)"));
    }

    #[test]
    fn table_and_function_names_need_a_typo_not_a_likeness() {
        // PostgREST 14.6 (its #4675): names of tables and functions are suggested only at 0.75,
        // so a hint cannot be used to list a schema's relations.
        assert_eq!(closest(&["get_messages"], "blurb_message"), Some("get_messages"));
        assert_eq!(closest_scoring(&["get_messages"], "blurb_message", NAME_SCORE), None);
        assert_eq!(closest_scoring(&["test", "another"], "testt", NAME_SCORE), Some("test"));
        assert_eq!(closest_scoring(&["clients", "markers"], "clientsxxxxxxxxxxxxxx", NAME_SCORE), None);
        assert_eq!(closest_scoring(&["markers", "projects"], "users", NAME_SCORE), None);
        assert_eq!(closest_scoring(&["tasks"], "taks", NAME_SCORE), Some("tasks"));
    }

    #[test]
    fn levenshtein() {
        assert_eq!(levenshtein_similarity("kitten", "sitting"), 1.0 - 3.0 / 7.0);
        assert_eq!(levenshtein_similarity("", ""), 1.0);
    }
}
