//! Request bodies: the first input byte chooses the content type, the method and target, and
//! whether `columns=` is given; the rest is the body. Through parse, plan and SQL rendering.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::http::RawRequest;
use tusk_fuzz::{config, pipeline};

const CONTENT_TYPES: [&str; 8] = [
    "application/json",
    "text/csv",
    "application/x-www-form-urlencoded",
    "application/vnd.pgrst.object+json",
    "application/json; charset=utf-8",
    "text/plain",
    "application/octet-stream",
    "text/csv; charset=utf-8",
];

const TARGETS: [(&str, &str); 4] =
    [("POST", "/tasks"), ("PATCH", "/tasks"), ("POST", "/rpc/echo"), ("POST", "/rpc/add")];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let content_type = CONTENT_TYPES[usize::from(selector & 7)];
    let (method, path) = TARGETS[usize::from((selector >> 3) & 3)];
    let query = match (selector >> 5) & 3 {
        0 => "",
        1 => "columns=name,done",
        2 => "columns=id,name,done,data&select=id,name",
        _ => "on_conflict=id&select=*",
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    if selector & 0x80 != 0 {
        headers.push(("prefer".into(), "return=representation, missing=default, params=single-object".into()));
    }
    let req = RawRequest {
        method: method.into(),
        path: path.into(),
        query: if method == "PATCH" && query.is_empty() { "id=eq.1".into() } else { query.into() },
        headers: headers.into(),
        body: body.to_vec().into(),
    };
    pipeline(config(), &req);
});
