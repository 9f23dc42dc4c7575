//! Authentication: the `Authorization` header (or the `jwt-cookie` cookie) → [`AuthResult`] (the role to switch to and the
//! JWT claims), as PostgREST does it.
//!
//! No token means the anonymous role (`db-anon-role`); without one, 401 PGRST302. A token is
//! verified with the configured secret (HS256/384/512); `exp`, `nbf` and `iat` are checked with
//! a 30-second clock-skew allowance, `aud` when `jwt-aud` is set; the role is read at
//! `jwt-role-claim-key`. Rejections carry PostgREST's PGRST30x codes and messages. This module
//! never talks to the database: whether the role exists and may be used is PostgreSQL's call
//! when the transaction switches to it.

use crate::config::{ClaimPath, Config, Step};
use crate::error::Error;
use crate::http::RawRequest;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Clock skew PostgREST allows on `exp`, `nbf` and `iat`, in seconds.
const CLOCK_SKEW: i64 = 30;

#[derive(Debug, Clone)]
pub struct AuthResult {
    /// The role the request runs as.
    pub role: String,
    /// The verified claims (`{"role": anon}` for anonymous requests), shared with the JWT
    /// cache: a cache hit copies nothing.
    pub claims: Arc<Map<String, Value>>,
}

/// Errors of `tusk token`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no JWT secret is configured (set PGRST_JWT_SECRET)")]
    NoSecret,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// What a request presents to authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// Nothing: the anonymous role.
    None,
    /// The `Authorization` header's value.
    Header(&'a str),
    /// The value of the `jwt-cookie` cookie (only when there is no `Authorization` header).
    Cookie(&'a str),
}

impl<'a> Credential<'a> {
    /// The request's `Authorization` header, or else its `jwt-cookie` cookie when that setting
    /// names one. A header always wins, so API clients are never affected by a stale cookie.
    pub fn of(config: &Config, req: &'a RawRequest) -> Credential<'a> {
        if let Some(value) = req.header("authorization") {
            return Credential::Header(value);
        }
        let cookie = config.jwt_cookie.as_deref().and_then(|name| cookie(req.header_all("cookie"), name));
        match cookie {
            // `name=` is what a browser keeps for a moment after a logout: no token.
            Some(value) if !value.is_empty() => Credential::Cookie(value),
            _ => Credential::None,
        }
    }
}

/// The value of the cookie `name` in `Cookie` headers (`a=1; b="2"`, RFC 6265 §4.2), without
/// the double quotes a value may carry. The first one wins, as browsers send the most specific
/// path first.
pub fn cookie<'a>(headers: impl Iterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers.flat_map(|h| h.split(';')).find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| {
            let v = v.trim();
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
        })
    })
}

/// Refuses a request authenticated by the `jwt-cookie` cookie that changes something (any method
/// but GET, HEAD and OPTIONS; GET on /rpc runs read-only) and comes from another site: a browser
/// sends the cookie along with a cross-site form or fetch, so without this check any page could
/// act as the signed-in user. SameSite=Strict on the cookie is the first line; this is the
/// second, for browsers or set-ups where SameSite does not hold.
///
/// Allowed: an `Origin` equal to the request's own (scheme-less `Host` match), or listed in
/// `server-cors-allowed-origins`; without `Origin`, a `Sec-Fetch-Site` of `same-origin` or `none`
/// (typed by the user). A request with neither header is not from a browser (browsers send
/// `Origin` with every such request), so it cannot be a forged cross-site one.
pub fn refuse_cross_site(config: &Config, req: &RawRequest) -> Result<(), Error> {
    if matches!(req.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return Ok(());
    }
    let refused = |from: &str| Err(Error::CrossSite { origin: from.to_string() });
    match req.header("origin") {
        Some(origin) => {
            let host = req.header("host").unwrap_or("");
            let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
            let listed = config
                .server_cors_allowed_origins
                .as_ref()
                .is_some_and(|list| list.iter().any(|o| o != "*" && o.eq_ignore_ascii_case(origin)));
            if (!host.is_empty() && origin_host.eq_ignore_ascii_case(host)) || listed {
                Ok(())
            } else {
                refused(origin)
            }
        }
        None => match req.header("sec-fetch-site") {
            None | Some("same-origin") | Some("none") => Ok(()),
            Some(site) => refused(site),
        },
    }
}

/// Verifies the request's `Authorization` header value (if any).
pub fn authenticate(config: &Config, authorization: Option<&str>, now: i64) -> Result<AuthResult, Error> {
    let credential = authorization.map_or(Credential::None, Credential::Header);
    authenticate_cached(config, None, credential, now)
}

/// [`authenticate`], taking a token's verified claims from `cache` when it has them. Only the
/// signature check is cached: `exp`, `nbf`, `iat` and `aud` are checked on every request, so a
/// cached token stops being accepted the moment it expires.
pub fn authenticate_cached(
    config: &Config,
    cache: Option<&JwtCache>,
    credential: Credential<'_>,
    now: i64,
) -> Result<AuthResult, Error> {
    let token = match credential {
        Credential::None => None,
        Credential::Cookie(token) => Some(token),
        Credential::Header(value) => {
            let value = value.trim();
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(rest.trim())
            } else if value.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer")) {
                // `Bearer<TAB>token`, `Bearertoken`: meant as a token, so never anonymous.
                return Err(Error::JwtDecode {
                    message: "Malformed Authorization header: expected 'Bearer <token>'".into(),
                    details: None,
                });
            } else {
                None
            }
        }
    };
    let Some(token) = token else {
        return match &config.db_anon_role {
            Some(role) => {
                // PostgREST shows anonymous requests the claims {"role": <anon role>}.
                let mut claims = Map::new();
                claims.insert("role".into(), Value::String(role.clone()));
                Ok(AuthResult { role: role.clone(), claims: Arc::new(claims) })
            }
            None => Err(Error::AnonDisabled),
        };
    };
    if token.is_empty() {
        return Err(Error::JwtDecode { message: "Empty JWT is sent in Authorization header".into(), details: None });
    }
    let Some(secret) = &config.jwt_secret else {
        return Err(Error::JwtNoSecret);
    };
    let claims = match cache {
        Some(cache) if cache.enabled() => cache.get_or_verify(token, || verify(secret, token))?,
        _ => Arc::new(verify(secret, token)?),
    };
    if let Err(e) = check_claims(config, &claims, now) {
        if let Some(cache) = cache {
            // An expired (or otherwise refused) token has nothing to do in the cache.
            cache.remove(token);
        }
        return Err(e);
    }
    let role = match lookup(&claims, &config.jwt_role_claim_key) {
        Some(Value::String(r)) if !r.is_empty() => r.clone(),
        _ => match &config.db_anon_role {
            Some(anon) => anon.clone(),
            None => return Err(Error::AnonDisabled),
        },
    };
    Ok(AuthResult { role, claims })
}

/// The JWT cache (`jwt-cache-max-entries`): token → its verified claims, at most `capacity`
/// entries, the oldest evicted first. Failed verifications are never cached. Emptied (and
/// resized) when the configuration is reloaded, since the secret may have changed.
///
/// A hit, the common case, takes the lock shared: requests on many cores look tokens up at
/// the same time without waiting for each other; only a miss that verified a token and a reset
/// take it exclusively. Whether the cache is on at all is read without any lock.
#[derive(Default)]
pub struct JwtCache {
    inner: std::sync::RwLock<CacheInner>,
    /// `inner.capacity`, readable without the lock ([`JwtCache::enabled`], every request).
    capacity: std::sync::atomic::AtomicUsize,
    /// Lookups, hits and evictions since start (the admin server's `/metrics`).
    pub requests: std::sync::atomic::AtomicU64,
    pub hits: std::sync::atomic::AtomicU64,
    pub evictions: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct CacheInner {
    capacity: usize,
    entries: std::collections::HashMap<String, std::sync::Arc<Map<String, Value>>>,
    /// Insertion order, oldest first (may name tokens already removed).
    order: std::collections::VecDeque<String>,
}

impl JwtCache {
    pub fn new(capacity: usize) -> JwtCache {
        let cache = JwtCache::default();
        cache.reset(capacity);
        cache
    }

    /// Empties the cache and sets its capacity (0 disables it).
    pub fn reset(&self, capacity: usize) {
        if let Ok(mut inner) = self.inner.write() {
            *inner = CacheInner { capacity, ..Default::default() };
            self.capacity.store(capacity, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    pub fn len(&self) -> usize {
        self.inner.read().map(|i| i.entries.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn remove(&self, token: &str) {
        if let Ok(mut inner) = self.inner.write() {
            inner.entries.remove(token);
        }
    }

    /// The cached claims of `token`, or `verify()`'s (cached when it succeeds).
    fn get_or_verify(
        &self,
        token: &str,
        verify: impl FnOnce() -> Result<Map<String, Value>, Error>,
    ) -> Result<Arc<Map<String, Value>>, Error> {
        use std::sync::atomic::Ordering::Relaxed;
        self.requests.fetch_add(1, Relaxed);
        let cached = self.inner.read().ok().and_then(|i| i.entries.get(token).cloned());
        if let Some(claims) = cached {
            self.hits.fetch_add(1, Relaxed);
            return Ok(claims);
        }
        // Verified outside the lock: other requests are not held up by this one.
        let claims = Arc::new(verify()?);
        if let Ok(mut inner) = self.inner.write() {
            if inner.capacity > 0 && !inner.entries.contains_key(token) {
                while inner.entries.len() >= inner.capacity {
                    let Some(oldest) = inner.order.pop_front() else { break };
                    if inner.entries.remove(&oldest).is_some() {
                        self.evictions.fetch_add(1, Relaxed);
                    }
                }
                inner.entries.insert(token.to_string(), claims.clone());
                inner.order.push_back(token.to_string());
                // Keep the order queue from growing with tokens removed meanwhile.
                if inner.order.len() > 2 * inner.capacity.max(16) {
                    let CacheInner { entries, order, .. } = &mut *inner;
                    order.retain(|t| entries.contains_key(t));
                }
            }
        }
        Ok(claims)
    }
}

fn verify(secret: &[u8], token: &str) -> Result<Map<String, Value>, Error> {
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(Error::JwtDecode { message: format!("Expected 3 parts in JWT; got {parts}"), details: None });
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("unknown variant") || msg.to_lowercase().contains("algorithm") {
            Error::JwtDecode {
                message: "Wrong or unsupported encoding algorithm".into(),
                details: Some("JWT is unsecured but expected 'alg' was not 'none'".into()),
            }
        } else {
            Error::JwtDecode { message: "JWT cryptographic operation failed".into(), details: None }
        }
    })?;
    let no_key = || Error::JwtDecode {
        message: "No suitable key or wrong key type".into(),
        details: Some("None of the keys was able to decode the JWT".into()),
    };
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    // A token naming a key (kid) is checked with that key only; otherwise with each in turn.
    let keys = decoding_keys(secret)?;
    let candidates = keys.iter().filter(|(kid, _)| match (&header.kid, kid) {
        (Some(wanted), Some(kid)) => wanted == kid,
        _ => true,
    });
    let mut last = no_key();
    for (_, key) in candidates {
        match jsonwebtoken::decode::<Value>(token, key, &validation) {
            Ok(data) => {
                return match data.claims {
                    Value::Object(map) => Ok(map),
                    _ => Err(Error::JwtDecode { message: "JWT cryptographic operation failed".into(), details: None }),
                }
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                last = match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => no_key(),
                    _ => Error::JwtDecode { message: "JWT cryptographic operation failed".into(), details: None },
                };
            }
        }
    }
    Err(last)
}

/// The verification keys of `jwt-secret`: a shared secret (HS*), or a JWK / JWK set (RS*,
/// PS*, ES*, EdDSA, or `oct` keys) with their key ids.
fn decoding_keys(secret: &[u8]) -> Result<Vec<(Option<String>, DecodingKey)>, Error> {
    if secret.first() != Some(&b'{') {
        return Ok(vec![(None, DecodingKey::from_secret(secret))]);
    }
    let bad = || Error::Internal("jwt-secret is not a valid JWK or JWK set".into());
    let set: jsonwebtoken::jwk::JwkSet = match serde_json::from_slice::<Value>(secret).map_err(|_| bad())? {
        v if v.get("keys").is_some() => serde_json::from_value(v).map_err(|_| bad())?,
        v => jsonwebtoken::jwk::JwkSet { keys: vec![serde_json::from_value(v).map_err(|_| bad())?] },
    };
    Ok(set.keys.iter().filter_map(|jwk| Some((jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk).ok()?))).collect())
}

fn check_claims(config: &Config, claims: &Map<String, Value>, now: i64) -> Result<(), Error> {
    let number = |name: &str| -> Result<Option<f64>, Error> {
        match claims.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(_) => Err(Error::JwtClaims(format!("The JWT '{name}' claim must be a number"))),
        }
    };
    let now = now as f64;
    let skew = CLOCK_SKEW as f64;
    if let Some(exp) = number("exp")? {
        if now - skew > exp {
            return Err(Error::JwtClaims("JWT expired".into()));
        }
    }
    if let Some(nbf) = number("nbf")? {
        if now + skew < nbf {
            return Err(Error::JwtClaims("JWT not yet valid".into()));
        }
    }
    if let Some(iat) = number("iat")? {
        if now + skew < iat {
            return Err(Error::JwtClaims("JWT issued at future".into()));
        }
    }
    let bad_aud = || Error::JwtClaims("The JWT 'aud' claim must be a string or an array of strings".into());
    let auds: Option<Vec<&str>> = match claims.get("aud") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(vec![s.as_str()]),
        Some(Value::Array(items)) => {
            Some(items.iter().map(|v| v.as_str().ok_or_else(bad_aud)).collect::<Result<_, _>>()?)
        }
        Some(_) => return Err(bad_aud()),
    };
    if let (Some(expected), Some(auds)) = (&config.jwt_aud, auds) {
        // An empty list names no audience at all, like an absent claim.
        if !auds.is_empty() && !auds.iter().any(|a| a == expected) {
            return Err(Error::JwtClaims("JWT not in audience".into()));
        }
    }
    Ok(())
}

/// Follows the role-claim path (`$.realm.roles[0]`) into the claims.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &ClaimPath) -> Option<&'a Value> {
    let (first, rest) = path.0.split_first()?;
    let Step::Key(first) = first else { return None };
    let mut current = claims.get(first)?;
    for step in rest {
        current = match (step, current) {
            (Step::Index(i), Value::Array(items)) => items.get(*i)?,
            (Step::Key(k), Value::Object(map)) => map.get(k)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Signs `claims` with the configured secret (HS256), for `tusk token` and `tusk demo`.
pub fn sign_token(config: &Config, claims: &Value) -> Result<String, AuthError> {
    let secret = config.jwt_secret.as_ref().ok_or(AuthError::NoSecret)?;
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .map_err(|e| AuthError::Sign(e.to_string()))
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn config(extra: &[(&str, &str)]) -> Config {
        let mut env: BTreeMap<String, String> =
            [("PGRST_JWT_SECRET", "your-256-bit-secret-your-256-bit-secret"), ("PGRST_DB_ANON_ROLE", "web_anon")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Config::from_sources(None, &env).expect("config")
    }

    const SEED_TOKEN: &str =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoidG9kb191c2VyIn0.xXy_2x-iYau-SKFi_XTulaRvfQ6MXx9P5M-AqxOKbs8";

    fn message(r: Result<AuthResult, Error>) -> String {
        match r {
            Ok(a) => format!("ok {}", a.role),
            Err(e) => format!("{} {}", e.code(), e),
        }
    }

    #[test]
    fn cases() {
        let c = config(&[]);
        let sign = |claims: Value| sign_token(&c, &claims).expect("sign");
        let now = 1_700_000_000;
        let cases: Vec<(Option<String>, &str)> = vec![
            (None, "ok web_anon"),
            (Some(format!("Bearer {SEED_TOKEN}")), "ok todo_user"),
            (Some(format!("bearer {SEED_TOKEN}")), "ok todo_user"),
            (Some("Bearer ".into()), "PGRST301 Empty JWT is sent in Authorization header"),
            (
                Some(format!("Bearer\t{SEED_TOKEN}")),
                "PGRST301 Malformed Authorization header: expected 'Bearer <token>'",
            ),
            (Some(format!("BEARER{SEED_TOKEN}")), "PGRST301 Malformed Authorization header: expected 'Bearer <token>'"),
            (Some(format!("Basic {SEED_TOKEN}")), "ok web_anon"),
            (Some("Bearer a.b".into()), "PGRST301 Expected 3 parts in JWT; got 2"),
            (Some(format!("Bearer {}x", SEED_TOKEN)), "PGRST301 No suitable key or wrong key type"),
            (Some(format!("Bearer {}", sign(json!({"role": "r", "exp": now - 31})))), "PGRST303 JWT expired"),
            (Some(format!("Bearer {}", sign(json!({"role": "r", "exp": now - 29})))), "ok r"),
            (Some(format!("Bearer {}", sign(json!({"role": "r", "nbf": now + 60})))), "PGRST303 JWT not yet valid"),
            (Some(format!("Bearer {}", sign(json!({"role": "r", "iat": now + 60})))), "PGRST303 JWT issued at future"),
            (
                Some(format!("Bearer {}", sign(json!({"role": "r", "exp": "soon"})))),
                "PGRST303 The JWT 'exp' claim must be a number",
            ),
            (
                Some(format!("Bearer {}", sign(json!({"role": "r", "aud": 1})))),
                "PGRST303 The JWT 'aud' claim must be a string or an array of strings",
            ),
            (Some(format!("Bearer {}", sign(json!({"other": 1})))), "ok web_anon"),
        ];
        for (header, expected) in cases {
            assert_eq!(message(authenticate(&c, header.as_deref(), now)), expected, "{header:?}");
        }
    }

    #[test]
    fn audience_and_claim_path() {
        let c = config(&[("PGRST_JWT_AUD", "api"), ("PGRST_JWT_ROLE_CLAIM_KEY", ".\"https://x\".roles[1]")]);
        let now = 1_700_000_000;
        let tok = |claims: Value| format!("Bearer {}", sign_token(&c, &claims).expect("sign"));
        let roles = json!({"https://x": {"roles": ["a", "b"]}, "aud": ["x", "api"]});
        assert_eq!(message(authenticate(&c, Some(&tok(roles)), now)), "ok b");
        assert_eq!(message(authenticate(&c, Some(&tok(json!({"aud": "other"}))), now)), "PGRST303 JWT not in audience");
        // The same path in PostgREST's current JSONPath form.
        let c = config(&[("PGRST_JWT_AUD", "api"), ("PGRST_JWT_ROLE_CLAIM_KEY", "$['https://x'].roles[1]")]);
        let roles = json!({"https://x": {"roles": ["a", "b"]}, "aud": "api"});
        assert_eq!(message(authenticate(&c, Some(&tok(roles)), now)), "ok b");
        // A key into an array finds no role.
        let c = config(&[("PGRST_JWT_ROLE_CLAIM_KEY", "$.roles.first")]);
        let found = message(authenticate(&c, Some(&tok(json!({"roles": ["a"]}))), now));
        assert_eq!(found, "ok web_anon", "the anonymous role, for want of a role claim");
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> RawRequest {
        RawRequest {
            method: method.into(),
            path: "/tasks".into(),
            query: String::new(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>().into(),
            body: Default::default(),
        }
    }

    #[test]
    fn the_cookie_is_read_only_when_named_and_without_an_authorization_header() {
        assert_eq!(cookie(["a=1; jwt=tok; b=2"].into_iter(), "jwt"), Some("tok"));
        assert_eq!(cookie(["a=1", "jwt=\"tok\""].into_iter(), "jwt"), Some("tok"));
        assert_eq!(cookie(["xjwt=1; jwtx=2"].into_iter(), "jwt"), None);
        assert_eq!(cookie(["jwt=first; jwt=second"].into_iter(), "jwt"), Some("first"));
        let with = config(&[("PGRST_JWT_COOKIE", "jwt")]);
        let without = config(&[]);
        let cookie_only = request("GET", &[("cookie", "jwt=abc")]);
        assert_eq!(Credential::of(&with, &cookie_only), Credential::Cookie("abc"));
        assert_eq!(Credential::of(&without, &cookie_only), Credential::None);
        let both = request("GET", &[("cookie", "jwt=abc"), ("authorization", "Bearer x")]);
        assert_eq!(Credential::of(&with, &both), Credential::Header("Bearer x"));
        assert_eq!(Credential::of(&with, &request("GET", &[("cookie", "jwt=")])), Credential::None);
        let c = config(&[("PGRST_JWT_COOKIE", "jwt")]);
        assert_eq!(message(authenticate_cached(&c, None, Credential::Cookie(SEED_TOKEN), 0)), "ok todo_user");
        let env = BTreeMap::from([("PGRST_JWT_COOKIE".to_string(), "a;b".to_string())]);
        let refused = Config::from_sources(None, &env).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("'a;b' is not a cookie name"), "{refused}");
    }

    #[test]
    fn cookie_writes_from_another_origin_are_refused() {
        let c = config(&[("PGRST_SERVER_CORS_ALLOWED_ORIGINS", "https://app.example")]);
        let check = |method: &str, headers: &[(&str, &str)]| match refuse_cross_site(&c, &request(method, headers)) {
            Ok(()) => "ok".to_string(),
            Err(e) => format!("{} {}", e.code(), e),
        };
        let host = ("host", "tusk.example:3000");
        assert_eq!(check("POST", &[host, ("origin", "https://tusk.example:3000")]), "ok");
        assert_eq!(check("PATCH", &[host, ("origin", "http://TUSK.example:3000")]), "ok");
        assert_eq!(check("DELETE", &[host, ("origin", "https://app.example")]), "ok");
        assert_eq!(
            check("POST", &[host, ("origin", "https://evil.example")]),
            "TUSK403 A cross-site request cannot use the sign-in cookie"
        );
        assert_eq!(
            check("POST", &[host, ("origin", "null")]),
            "TUSK403 A cross-site request cannot use the sign-in cookie"
        );
        assert_eq!(
            check("POST", &[host, ("origin", "https://tusk.example:3001")]),
            "TUSK403 A cross-site request cannot use the sign-in cookie"
        );
        assert_eq!(
            check("POST", &[host, ("sec-fetch-site", "cross-site")]),
            "TUSK403 A cross-site request cannot use the sign-in cookie"
        );
        assert_eq!(
            check("POST", &[host, ("sec-fetch-site", "same-site")]),
            "TUSK403 A cross-site request cannot use the sign-in cookie"
        );
        assert_eq!(check("POST", &[host, ("sec-fetch-site", "same-origin")]), "ok");
        assert_eq!(check("POST", &[host]), "ok");
        assert_eq!(check("GET", &[host, ("origin", "https://evil.example")]), "ok");
    }

    #[test]
    fn jwk_sets_choose_the_key_by_kid() {
        use base64::Engine;
        let secret = "a-secret-that-is-long-enough-for-hs256";
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
        let jwks = format!(
            r#"{{"keys":[{{"kty":"oct","kid":"other","k":"{}"}},{{"kty":"oct","kid":"mine","k":"{k}"}}]}}"#,
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("another-secret-that-is-long-enough-too")
        );
        let c = config(&[("PGRST_JWT_SECRET", &jwks)]);
        let sign = |kid: Option<&str>| {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = kid.map(str::to_string);
            jsonwebtoken::encode(&header, &json!({"role": "r"}), &EncodingKey::from_secret(secret.as_bytes()))
                .expect("sign")
        };
        assert_eq!(message(authenticate(&c, Some(&format!("Bearer {}", sign(Some("mine")))), 0)), "ok r");
        assert_eq!(message(authenticate(&c, Some(&format!("Bearer {}", sign(None))), 0)), "ok r");
        assert_eq!(
            message(authenticate(&c, Some(&format!("Bearer {}", sign(Some("other")))), 0)),
            "PGRST301 No suitable key or wrong key type"
        );
    }

    #[test]
    fn the_cache_verifies_once_and_still_checks_expiry() {
        let c = config(&[]);
        let cache = JwtCache::new(2);
        let now = 1_700_000_000;
        let header = |claims: Value| format!("Bearer {}", sign_token(&c, &claims).expect("sign"));
        let short = header(json!({"role": "r", "exp": now + 10}));
        let run = |h: &str, at: i64| message(authenticate_cached(&c, Some(&cache), Credential::Header(h), at));
        assert_eq!(run(&short, now), "ok r");
        assert_eq!(run(&short, now), "ok r");
        assert_eq!(cache.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Cached, yet refused once expired (past the 30 s skew), and dropped from the cache.
        assert_eq!(run(&short, now + 41), "PGRST303 JWT expired");
        assert!(cache.is_empty());
        // A bad signature is never cached.
        assert_eq!(run(&format!("{short}x"), now), "PGRST301 No suitable key or wrong key type");
        assert!(cache.is_empty());
        // Bounded: the oldest entry goes first.
        let (a, b, d) = (header(json!({"role": "a"})), header(json!({"role": "b"})), header(json!({"role": "d"})));
        for h in [&a, &b, &d] {
            assert!(run(h, now).starts_with("ok"));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.evictions.load(std::sync::atomic::Ordering::Relaxed), 1);
        // Disabled with 0 entries; reset empties it.
        cache.reset(0);
        assert_eq!(run(&a, now), "ok a");
        assert!(cache.is_empty());
    }

    #[test]
    fn no_anon_no_secret() {
        let mut env = BTreeMap::new();
        env.insert("PGRST_DB_URI".to_string(), "postgres://x".to_string());
        let c = Config::from_sources(None, &env).expect("config");
        assert_eq!(message(authenticate(&c, None, 0)), "PGRST302 Anonymous access is disabled");
        assert_eq!(
            message(authenticate(&c, Some(&format!("Bearer {SEED_TOKEN}")), 0)),
            "PGRST300 Server lacks JWT secret"
        );
    }
}
