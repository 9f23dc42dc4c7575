//! Arbitrary query strings (select, filters, logic trees, order, limits, columns…) through
//! `api_request::parse` for a table and for a function, then through plan and SQL rendering;
//! the select, order and filter grammars also directly on the raw input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tusk::api_request;
use tusk::http::RawRequest;
use tusk_fuzz::{check_error, config, pipeline, text};

fuzz_target!(|data: &[u8]| {
    let query = text(data);
    let config = config();
    for path in ["/tasks", "/rpc/list_tasks"] {
        let req = RawRequest { method: "GET".into(), path: path.into(), query: query.clone(), ..Default::default() };
        pipeline(config, &req);
    }
    if let Err(e) = api_request::parse_select(&query) {
        check_error("parse_select", &e);
    }
    if let Err(e) = api_request::parse_order(&query) {
        check_error("parse_order", &e);
    }
    let (key, value) = query.split_once('=').unwrap_or(("id", &query));
    if let Err(e) = api_request::parse_filter(key, value) {
        check_error("parse_filter", &e);
    }
});
