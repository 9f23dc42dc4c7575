//! `auth::authenticate` with an HS256 secret configured. The first input byte chooses how the
//! rest is used:
//! - 0: as the whole `Authorization` header value;
//! - 1: as a token after `Bearer `;
//! - 2: as JSON claims, signed with the configured secret, so that claim checking (exp, nbf,
//!   iat, aud, the role claim path) sees arbitrary claims behind a valid signature;
//! - 3: as the `now` (first 8 bytes) and JSON claims, signed as in 2.
//!
//! Bit 2 of the first byte selects the stricter configuration (an audience, a nested role
//! claim, no anonymous role).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::auth;
use tusk_fuzz::{check_error, config, strict_jwt_config, text};

const NOW: i64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let config = if selector & 4 == 0 { config() } else { strict_jwt_config() };
    let (header, now) = match selector & 3 {
        0 => (text(rest), NOW),
        1 => (format!("Bearer {}", text(rest)), NOW),
        mode => {
            let (now, claims) = match mode {
                3 if rest.len() >= 8 => {
                    let (n, c) = rest.split_at(8);
                    (i64::from_le_bytes(n.try_into().expect("8 bytes")), c)
                }
                _ => (NOW, rest),
            };
            let Ok(claims) = serde_json::from_slice::<serde_json::Value>(claims) else { return };
            let token = auth::sign_token(config, &claims).expect("signing with the configured secret");
            (format!("Bearer {token}"), now)
        }
    };
    if let Err(e) = auth::authenticate(config, Some(&header), now) {
        check_error("authenticate", &e);
    }
});
