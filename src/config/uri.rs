//! The URI checks PostgREST makes on its settings (with Haskell's `Network.URI`): `jwt-aud`
//! must be a StringOrURI (RFC 7519: any string, but one containing `:` must be a URI), and
//! `openapi-server-proxy-uri` an absolute `http(s)` URI with a host, an optional port from 1 to
//! 65535, and neither user info, query nor fragment. URIs are RFC 3986's.

/// The parts of an RFC 3986 URI that the checks look at.
struct Uri<'a> {
    scheme: &'a str,
    /// `(userinfo, host, port)` when the URI has an authority (`//…`).
    authority: Option<(Option<&'a str>, &'a str, Option<&'a str>)>,
    query: Option<&'a str>,
    fragment: Option<&'a str>,
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~')
}

fn is_sub_delim(c: char) -> bool {
    matches!(c, '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=')
}

/// Every char is allowed by `ok` or starts a `%XX` escape.
fn chars_ok(s: &str, ok: impl Fn(char) -> bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                return false;
            }
            i += 3;
        } else {
            let c = s[i..].chars().next().unwrap_or('\0');
            if !ok(c) {
                return false;
            }
            i += c.len_utf8();
        }
    }
    true
}

fn is_pchar(c: char) -> bool {
    is_unreserved(c) || is_sub_delim(c) || matches!(c, ':' | '@')
}

fn parse(s: &str) -> Option<Uri<'_>> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut sc = scheme.chars();
    if !sc.next().is_some_and(|c| c.is_ascii_alphabetic())
        || !sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let rest = &s[colon + 1..];
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (hier, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let query_ok = |q: &str| chars_ok(q, |c| is_pchar(c) || matches!(c, '/' | '?'));
    if !query.is_none_or(query_ok) || !fragment.is_none_or(query_ok) {
        return None;
    }
    let (authority, path) = match hier.strip_prefix("//") {
        Some(h) => {
            let end = h.find('/').unwrap_or(h.len());
            (Some(authority(&h[..end])?), &h[end..])
        }
        None => (None, hier),
    };
    if !chars_ok(path, |c| is_pchar(c) || c == '/') {
        return None;
    }
    Some(Uri { scheme, authority, query, fragment })
}

/// `[userinfo@]host[:port]`.
fn authority(a: &str) -> Option<(Option<&str>, &str, Option<&str>)> {
    let (userinfo, hostport) = match a.rfind('@') {
        Some(at) => (Some(&a[..at]), &a[at + 1..]),
        None => (None, a),
    };
    if !userinfo.is_none_or(|u| chars_ok(u, |c| is_unreserved(c) || is_sub_delim(c) || c == ':')) {
        return None;
    }
    let (host, port) = if hostport.starts_with('[') {
        let close = hostport.find(']')?;
        let literal = &hostport[1..close];
        if literal.is_empty() || !literal.chars().all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.' | 'v' | 'V')) {
            return None;
        }
        let after = &hostport[close + 1..];
        match after {
            "" => (&hostport[..=close], None),
            p => (&hostport[..=close], Some(p.strip_prefix(':')?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if !host.starts_with('[') && !chars_ok(host, |c| is_unreserved(c) || is_sub_delim(c)) {
        return None;
    }
    if !port.is_none_or(|p| p.chars().all(|c| c.is_ascii_digit())) {
        return None;
    }
    Some((userinfo, host, port))
}

/// `Network.URI.isURI`: an absolute URI, a fragment allowed.
pub fn is_uri(s: &str) -> bool {
    parse(s).is_some()
}

/// A valid `jwt-aud`: any string, but one with a `:` must be a URI (RFC 7519's StringOrURI).
pub fn is_string_or_uri(s: &str) -> bool {
    !s.contains(':') || is_uri(s)
}

/// A valid `openapi-server-proxy-uri` (PostgREST's `isMalformedProxyUri`, negated).
pub fn is_proxy_uri(s: &str) -> bool {
    let Some(uri) = parse(s) else { return false };
    let Some((userinfo, host, port)) = uri.authority else { return false };
    matches!(uri.scheme.to_ascii_lowercase().as_str(), "http" | "https")
        && uri.query.is_none()
        && uri.fragment.is_none()
        && userinfo.is_none()
        && !host.is_empty()
        && port.is_none_or(|p| p.parse::<u32>().is_ok_and(|n| (1..65536).contains(&n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        for ok in [
            "https://example.com",
            "urn:example:animal:ferret:nose",
            "http://user:pw@[::1]:8080/a/b?c=d#e",
            "mailto:someone@example.com",
            "https://x.io/a%20b",
            "s3+x.y-z:path",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in
            ["no-scheme", ":x", "1http://x", "http://a b", "http://x/%zz", "http://x#a#b", "http://x:80a", "a:\"q\""]
        {
            assert!(!is_uri(bad), "{bad}");
        }
    }

    #[test]
    fn audiences() {
        assert!(is_string_or_uri("my-audience"));
        assert!(is_string_or_uri("an audience with spaces"));
        assert!(is_string_or_uri("https://api.example.com"));
        assert!(!is_string_or_uri("http://a b"));
        assert!(!is_string_or_uri(":"));
        assert!(!is_string_or_uri("not a uri: really"));
    }

    #[test]
    fn proxy_uris() {
        for ok in
            ["https://example.com:8443/basePath", "http://postgrest.com/openapi.json", "HTTP://x", "http://x:65535"]
        {
            assert!(is_proxy_uri(ok), "{ok}");
        }
        for bad in [
            "example.com",
            "ftp://example.com",
            "http://example.com?x=1",
            "http://example.com?",
            "http://u@example.com",
            "http://example.com:0",
            "http://example.com:70000",
            "http://example.com:",
            "http:///path",
            "http://example.com/#frag",
            "not a uri",
        ] {
            assert!(!is_proxy_uri(bad), "{bad}");
        }
    }
}
