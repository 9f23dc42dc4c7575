//! The request headers tusk interprets, one value per input line, in this order: Prefer,
//! Range, Accept, Content-Type, Accept-Profile, Content-Profile, then any further lines as more
//! Prefer headers. A GET (read) and a POST (write, with a fixed valid body) go through parse,
//! plan and SQL rendering, so content negotiation and preference handling are covered too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::http::RawRequest;
use tusk_fuzz::{config, pipeline, text};

const NAMES: [&str; 6] = ["prefer", "range", "accept", "content-type", "accept-profile", "content-profile"];

fuzz_target!(|data: &[u8]| {
    let input = text(data);
    let mut headers: Vec<(String, String)> = Vec::new();
    for (i, value) in input.split('\n').enumerate() {
        let name = NAMES.get(i).copied().unwrap_or("prefer");
        // An empty line leaves that header out.
        if !value.is_empty() {
            headers.push((name.to_string(), value.to_string()));
        }
    }
    let config = config();
    for (method, path, body) in [
        ("GET", "/tasks", ""),
        ("POST", "/tasks", r#"[{"name":"a","done":true}]"#),
        ("POST", "/rpc/add", r#"{"a":1,"b":2}"#),
    ] {
        let req = RawRequest {
            method: method.into(),
            path: path.into(),
            query: "select=id,name".into(),
            headers: headers.clone().into(),
            body: body.as_bytes().to_vec().into(),
        };
        pipeline(config, &req);
    }
});
