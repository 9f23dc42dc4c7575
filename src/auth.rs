//! Authentication: the `Authorization` header → [`AuthResult`] (the role to switch to and the
//! JWT claims), as PostgREST does it.
//!
//! No token means the anonymous role (`db-anon-role`); without one, 401 PGRST302. A token is
//! verified with the configured secret (HS256/384/512); `exp`, `nbf` and `iat` are checked with
//! a 30-second clock-skew allowance, `aud` when `jwt-aud` is set; the role is read at
//! `jwt-role-claim-key`. Rejections carry PostgREST's PGRST30x codes and messages. This module
//! never talks to the database: whether the role exists and may be used is PostgreSQL's call
//! when the transaction switches to it.

use crate::config::Config;
use crate::error::Error;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value};

/// Clock skew PostgREST allows on `exp`, `nbf` and `iat`, in seconds.
const CLOCK_SKEW: i64 = 30;

#[derive(Debug, Clone)]
pub struct AuthResult {
    /// The role the request runs as.
    pub role: String,
    /// The verified claims (`{"role": anon}` for anonymous requests).
    pub claims: Map<String, Value>,
}

/// Errors of `tusk token`.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("no JWT secret is configured (set PGRST_JWT_SECRET)")]
    NoSecret,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

/// Verifies the request's `Authorization` header value (if any).
pub fn authenticate(config: &Config, authorization: Option<&str>, now: i64) -> Result<AuthResult, Error> {
    let token = match authorization {
        None => None,
        Some(value) => {
            let value = value.trim();
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            if scheme.eq_ignore_ascii_case("bearer") {
                Some(rest.trim())
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
                Ok(AuthResult { role: role.clone(), claims })
            }
            None => Err(Error::AnonDisabled),
        };
    };
    if token.is_empty() {
        return Err(Error::JwtDecode("Empty JWT is sent in Authorization header".into(), None));
    }
    let Some(secret) = &config.jwt_secret else {
        return Err(Error::JwtNoSecret);
    };
    let claims = verify(secret, token)?;
    check_claims(config, &claims, now)?;
    let role = match lookup(&claims, &config.jwt_role_claim_key) {
        Some(Value::String(r)) if !r.is_empty() => r.clone(),
        _ => match &config.db_anon_role {
            Some(anon) => anon.clone(),
            None => return Err(Error::AnonDisabled),
        },
    };
    Ok(AuthResult { role, claims })
}

fn verify(secret: &[u8], token: &str) -> Result<Map<String, Value>, Error> {
    let parts = token.split('.').count();
    if parts != 3 {
        return Err(Error::JwtDecode(format!("Expected 3 parts in JWT; got {parts}"), None));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| {
        let msg = e.to_string();
        if msg.contains("unknown variant") || msg.to_lowercase().contains("algorithm") {
            Error::JwtDecode(
                "Wrong or unsupported encoding algorithm".into(),
                Some("JWT is unsecured but expected 'alg' was not 'none'".into()),
            )
        } else {
            Error::JwtDecode("JWT cryptographic operation failed".into(), None)
        }
    })?;
    let no_key = || {
        Error::JwtDecode(
            "No suitable key or wrong key type".into(),
            Some("None of the keys was able to decode the JWT".into()),
        )
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
                    _ => Err(Error::JwtDecode("JWT cryptographic operation failed".into(), None)),
                }
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                last = match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => no_key(),
                    _ => Error::JwtDecode("JWT cryptographic operation failed".into(), None),
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

/// Follows a role-claim path (`["https://x/claims", "roles", "[0]"]`) into the claims.
fn lookup<'a>(claims: &'a Map<String, Value>, path: &[String]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = claims.get(first)?;
    for step in rest {
        current = match (step.strip_prefix('[').and_then(|s| s.strip_suffix(']')), current) {
            (Some(idx), Value::Array(items)) => items.get(idx.parse::<usize>().ok()?)?,
            (None, Value::Object(map)) => map.get(step)?,
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
