//! The JWT in a cookie (`jwt-cookie`, PostgREST's open #3050): read when a request has no
//! `Authorization` header, never when the setting is unset, and refused for writes that come
//! from another site (TUSK403), so that a cookie the browser sends along cannot be used by a
//! forged cross-site request.

mod support;

use support::*;

async fn app(cookie: Option<&str>) -> (TestDb, Tusk) {
    let db = TestDb::todo();
    let mut env = db.seed_env();
    if let Some(name) = cookie {
        set_env(&mut env, "PGRST_JWT_COOKIE", name);
    }
    let t = Tusk::start(&env).await;
    (db, t)
}

#[tokio::test]
async fn a_token_in_the_named_cookie_signs_the_request_in() {
    let (db, t) = app(Some("tusk_jwt")).await;
    let own = t.url("");
    let own = own.trim_end_matches('/');
    let cookie = format!("theme=dark; tusk_jwt={SEED_TOKEN}");
    // Same origin: the cookie's role writes.
    t.post("/tasks")
        .header("Cookie", &cookie)
        .header("Origin", own)
        .json(&json!({"name": "by cookie"}))
        .send()
        .await
        .expect_status(201);
    assert!(db.tasks().iter().any(|(_, name, _, owner)| name == "by cookie" && owner == "todo_user"));
    // No Origin and no Sec-Fetch-Site: not a browser, so not a forged request.
    t.post("/tasks").header("Cookie", &cookie).json(&json!({"name": "by script"})).send().await.expect_status(201);
    // An Authorization header wins over the cookie.
    t.post("/tasks")
        .header("Cookie", &cookie)
        .header("Authorization", "Bearer not.a.token")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(401, "PGRST301");
    // A bad token in the cookie is refused like one in the header.
    t.get("/tasks").header("Cookie", "tusk_jwt=not.a.token").send().await.expect_error(401, "PGRST301");
    // An emptied cookie (after a logout) is anonymous.
    t.get("/tasks").header("Cookie", "tusk_jwt=").send().await.expect_status(200);
}

#[tokio::test]
async fn cookie_writes_from_another_site_are_refused_and_change_nothing() {
    let (db, t) = app(Some("tusk_jwt")).await;
    let before = db.tasks();
    let cookie = format!("tusk_jwt={SEED_TOKEN}");
    for (header, value) in [("Origin", "https://evil.example"), ("Origin", "null"), ("Sec-Fetch-Site", "cross-site")] {
        for method in ["POST", "PATCH", "DELETE"] {
            let r = t
                .req(method.parse().expect("method"), "/tasks")
                .header("Cookie", &cookie)
                .header(header, value)
                .json(&json!({"name": "forged"}))
                .send()
                .await;
            let body = r.expect_error(403, "TUSK403");
            assert!(body["details"].as_str().unwrap_or("").contains(value), "{body}");
        }
    }
    // Reads from another site are fine (the response is the browser's to withhold).
    t.get("/tasks").header("Cookie", &cookie).header("Origin", "https://evil.example").send().await.expect_status(200);
    // A token in the Authorization header is not a cookie: a cross-site page cannot have it.
    t.post("/tasks")
        .bearer(SEED_TOKEN)
        .header("Origin", "https://elsewhere.example")
        .json(&json!({"name": "api client"}))
        .send()
        .await
        .expect_status(201);
    let after: Vec<_> = db.tasks().into_iter().filter(|(_, name, _, _)| name != "api client").collect();
    assert_eq!(after, before);
}

#[tokio::test]
async fn without_the_setting_cookies_are_ignored() {
    let (db, t) = app(None).await;
    let before = db.tasks();
    t.post("/tasks")
        .header("Cookie", &format!("tusk_jwt={SEED_TOKEN}"))
        .json(&json!({"name": "x"}))
        .send()
        .await
        .expect_error(401, "42501");
    assert_eq!(db.tasks(), before);
}
