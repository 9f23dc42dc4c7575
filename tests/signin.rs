//! Sign-in in the todo example's `backend.sql` (issue 11): accounts with bcrypt hashes, a login
//! function that signs a JWT in SQL and sets it in an HttpOnly cookie that tusk reads
//! (`jwt-cookie`), logout, renewal, sign-up (off by default), the same answer and time for a
//! wrong name and a wrong password, and repeated failures slowed down.

mod support;

use std::time::{Duration, Instant};

use support::*;

const COOKIE: &str = "todo_jwt";

/// The todo database with an account `alice` (role todo_user), and tusk started as the README
/// says: the seed's settings plus the cookie and the secret handed to SQL.
async fn app() -> (TestDb, Tusk) {
    let db = TestDb::todo();
    db.psql("select todo_private.create_account('alice', 'correct horse battery')");
    let t = Tusk::start(&signin_env(&db)).await;
    (db, t)
}

fn signin_env(db: &TestDb) -> Vec<(String, String)> {
    let mut env = db.seed_env();
    let secret = env_map(&env)["PGRST_JWT_SECRET"].clone();
    set_env(&mut env, "PGRST_JWT_COOKIE", COOKIE);
    set_env(&mut env, "PGRST_APP_SETTINGS_JWT_SECRET", &secret);
    env
}

async fn login(t: &Tusk, name: &str, password: &str) -> Resp {
    t.post("/rpc/login").json(&json!({"name": name, "password": password})).send().await
}

/// The cookie's value in a `Set-Cookie` header, and the header itself.
fn set_cookie(r: &Resp) -> (String, String) {
    let header = r
        .header_all("set-cookie")
        .into_iter()
        .find(|h| h.starts_with(&format!("{COOKIE}=")))
        .unwrap_or_else(|| panic!("no {COOKIE} cookie set: {r:#?}"));
    let value = header[COOKIE.len() + 1..].split(';').next().unwrap_or_default().to_string();
    (value, header)
}

#[tokio::test]
async fn a_password_signs_in_with_an_httponly_cookie_that_tusk_reads() {
    let (db, t) = app().await;
    let r = login(&t, "alice", "correct horse battery").await;
    r.expect_status(200);
    let body = r.json();
    assert_eq!(body["name"], json!("alice"));
    assert_eq!(body["role"], json!("todo_user"));
    assert!(!r.text.contains("eyJ"), "the token must not be readable by page scripts: {}", r.text);
    let (token, header) = set_cookie(&r);
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=3600"] {
        assert!(header.contains(attribute), "{header}");
    }
    assert!(!header.contains("Secure"), "not over https: {header}");
    let claims = verify_jwt(&env_map(&signin_env(&db))["PGRST_JWT_SECRET"], &token).expect("a valid HS256 token");
    assert_eq!(claims["role"], json!("todo_user"));
    assert_eq!(claims["exp"], body["exp"]);
    let exp = claims["exp"].as_i64().unwrap_or(0);
    assert!((now() + 3590..=now() + 3610).contains(&exp), "{claims}");

    // The cookie signs requests in.
    let cookie = format!("{COOKIE}={token}");
    let origin = t.url("");
    let origin = origin.trim_end_matches('/');
    t.post("/tasks")
        .header("Cookie", &cookie)
        .header("Origin", origin)
        .json(&json!({"name": "alice's"}))
        .send()
        .await
        .expect_status(201);
    assert!(db.tasks().iter().any(|(_, name, _, owner)| name == "alice's" && owner == "todo_user"));
    let session = t.get("/rpc/session").header("Cookie", &cookie).send().await.json();
    assert_eq!(session["name"], json!("alice"));
    assert_eq!(session["exp"], json!(exp));
    assert_eq!(session["signup"], json!(false));
    let anonymous = t.get("/rpc/session").send().await.json();
    assert_eq!(anonymous["name"], json!(null));
    assert_eq!(anonymous["signed_in"], json!(false), "{anonymous}");
    assert_eq!(session["signed_in"], json!(true), "{session}");

    // Over https (as the page's Origin says), the cookie is Secure.
    let r = t
        .post("/rpc/login")
        .header("Origin", "https://todo.example")
        .json(&json!({"name": "alice", "password": "correct horse battery"}))
        .send()
        .await;
    assert!(set_cookie(&r).1.contains("; Secure"), "{r:#?}");
}

#[tokio::test]
async fn a_wrong_name_and_a_wrong_password_get_the_same_answer_in_the_same_time() {
    let (_db, t) = app().await;
    let mut times = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();
    // Alternate, 4 each; names differ so that the failure counter never slows one down.
    for i in 0..4 {
        for (k, name) in ["alice", "nobody"].iter().enumerate() {
            let password = format!("wrong {i}");
            let start = Instant::now();
            let r = login(&t, name, &password).await;
            times[k].push(start.elapsed());
            bodies.push(r.expect_error(401, "TODO401"));
            assert!(r.header("set-cookie").is_none(), "{r:#?}");
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let (known, unknown) = (median(&mut times[0]), median(&mut times[1]));
    // bcrypt takes tens of milliseconds; skipping it for unknown names would make them ~20× faster.
    let ratio = unknown / known;
    assert!((0.5..2.0).contains(&ratio), "wrong password {known:.3}s, unknown name {unknown:.3}s");
}

#[tokio::test]
async fn repeated_failures_are_slowed_down_then_a_right_password_works_again() {
    let (db, t) = app().await;
    for _ in 0..5 {
        login(&t, "alice", "guess").await.expect_error(401, "TODO401");
    }
    // The sixth attempt within a second is refused without checking, even the right password.
    let r = login(&t, "alice", "correct horse battery").await;
    r.expect_error(429, "TODO429");
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    assert!(r.header("set-cookie").is_none());
    // Unknown names are counted the same way.
    for _ in 0..5 {
        login(&t, "mallory", "guess").await.expect_error(401, "TODO401");
    }
    login(&t, "mallory", "guess").await.expect_error(429, "TODO429");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    login(&t, "alice", "correct horse battery").await.expect_status(200);
    // Success forgets the failures.
    assert_eq!(db.psql("select count(*) from todo_private.login_failures where name = 'alice'").trim(), "0");
}

#[tokio::test]
async fn logout_clears_the_cookie_and_renewal_extends_it() {
    let (_db, t) = app().await;
    let r = login(&t, "alice", "correct horse battery").await;
    let (token, _) = set_cookie(&r);
    let cookie = format!("{COOKIE}={token}");
    let origin = t.url("");
    let origin = origin.trim_end_matches('/').to_string();
    let first_exp = r.json()["exp"].as_i64().unwrap_or(0);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = t.post("/rpc/renew_session").header("Cookie", &cookie).header("Origin", &origin).send().await;
    r.expect_status(200);
    let (renewed, _) = set_cookie(&r);
    assert!(r.json()["exp"].as_i64().unwrap_or(0) > first_exp, "{r:#?}");
    assert_ne!(renewed, token);
    // Without a signed-in account (anonymous, or a token made by hand) there is nothing to renew.
    t.post("/rpc/renew_session").send().await.expect_error(401, "TODO401");
    t.post("/rpc/renew_session").bearer(SEED_TOKEN).send().await.expect_error(401, "TODO401");

    let r = t.post("/rpc/logout").header("Cookie", &cookie).header("Origin", &origin).send().await;
    r.expect_status(200);
    let (value, header) = set_cookie(&r);
    assert_eq!(value, "");
    assert!(header.contains("Max-Age=0"), "{header}");
    // A logout from another site is refused like any other cookie write.
    t.post("/rpc/logout")
        .header("Cookie", &cookie)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .expect_error(403, "TUSK403");
}

#[tokio::test]
async fn signup_is_off_by_default_and_makes_a_role_of_its_own_when_on() {
    let (db, t) = app().await;
    let signup =
        |name: &str, password: &str| t.post("/rpc/signup").json(&json!({"name": name, "password": password})).send();
    signup("carol", "a fine password").await.expect_error(403, "TODO403");
    assert_eq!(db.psql("select count(*) from pg_roles where rolname = 'u_carol'").trim(), "0");

    db.psql("update todo_private.settings set value = 'on' where key = 'signup'");
    signup("Carol!", "a fine password").await.expect_error(400, "TODO400");
    signup("carol", "short").await.expect_error(400, "TODO400");
    let r = signup("carol", "a fine password").await;
    r.expect_status(200);
    assert_eq!(r.json()["role"], json!("u_carol"));
    signup("carol", "another password").await.expect_error(409, "TODO409");

    // The new role writes its own tasks and cannot change anyone else's (the seed's grants + RLS).
    let (token, _) = set_cookie(&r);
    let cookie = format!("{COOKIE}={token}");
    let origin = t.url("");
    let origin = origin.trim_end_matches('/').to_string();
    t.post("/tasks")
        .header("Cookie", &cookie)
        .header("Origin", &origin)
        .json(&json!({"name": "carol's"}))
        .send()
        .await
        .expect_status(201);
    let before = db.tasks();
    let r = t
        .patch("/tasks?owner=neq.u_carol")
        .header("Cookie", &cookie)
        .header("Origin", &origin)
        .json(&json!({"done": true}))
        .send()
        .await;
    r.expect_status(204);
    assert_eq!(db.tasks(), before);
    assert!(before.iter().any(|(_, name, _, owner)| name == "carol's" && owner == "u_carol"));
    // And signs in again with its password.
    login(&t, "carol", "a fine password").await.expect_status(200);
}

#[tokio::test]
async fn without_the_secret_handed_in_sign_in_says_what_is_missing() {
    let db = TestDb::todo();
    db.psql("select todo_private.create_account('alice', 'correct horse battery')");
    let mut env = db.seed_env();
    set_env(&mut env, "PGRST_JWT_COOKIE", COOKIE);
    let t = Tusk::start(&env).await;
    let body = login(&t, "alice", "correct horse battery").await.expect_error(503, "PT503");
    assert!(body["hint"].as_str().unwrap_or("").contains("PGRST_APP_SETTINGS_JWT_SECRET"), "{body}");
}

/// `backend.sql` is safe to run again (its header promises it): accounts, settings and the
/// dummy hash survive, and sign-in still works.
#[tokio::test]
async fn running_backend_sql_again_keeps_the_accounts() {
    let (db, t) = app().await;
    db.psql("update todo_private.settings set value = 'on' where key = 'signup'");
    let hash = db.psql("select value from todo_private.settings where key = 'dummy_hash'");
    db.psql(&backend_sql());
    assert_eq!(db.psql("select value from todo_private.settings where key = 'dummy_hash'"), hash);
    assert_eq!(db.psql("select value from todo_private.settings where key = 'signup'").trim(), "on");
    login(&t, "alice", "correct horse battery").await.expect_status(200);
}
