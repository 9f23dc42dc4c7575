//! Parser cases as data: every line of `cases.txt` is parsed and the results are compared with
//! one snapshot, so a grammar change shows up as a readable diff.

use super::*;

fn render(result: Result<QueryParams, Error>) -> String {
    match result {
        Ok(q) => {
            let mut out = String::new();
            if !q.select.is_empty() {
                out.push_str(&format!("  select: {:?}\n", q.select));
            }
            for (path, f) in &q.filters {
                out.push_str(&format!("  filter {path:?}: {f:?}\n"));
            }
            for (path, l) in &q.logic {
                out.push_str(&format!("  logic {path:?}: {l:?}\n"));
            }
            for (path, o) in &q.order {
                out.push_str(&format!("  order {path:?}: {o:?}\n"));
            }
            for (path, l, o) in &q.limits {
                out.push_str(&format!("  limit {path:?}: {l:?} offset {o:?}\n"));
            }
            if let Some(c) = &q.columns {
                out.push_str(&format!("  columns: {c:?}\n"));
            }
            if let Some(c) = &q.on_conflict {
                out.push_str(&format!("  on_conflict: {c:?}\n"));
            }
            out
        }
        Err(e) => format!("  error {}: {}\n", e.status(false), e.body(false)),
    }
}

/// `{N*text}` → `text` N times (for the limits' cases).
fn expand(line: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = line;
    let mut expanded = false;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        match (digits > 0 && after[digits..].starts_with('*'), after.find('}')) {
            (true, Some(end)) => {
                let n: usize = after[..digits].parse().expect("repeat count");
                out.push_str(&rest[..i]);
                out.push_str(&after[digits + 1..end].repeat(n));
                rest = &after[end + 1..];
                expanded = true;
            }
            _ => {
                out.push_str(&rest[..=i]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    expanded.then_some(out)
}

/// What a long request parsed into, in numbers: items and nesting of `select`, filters,
/// terms and nesting of logic trees, order terms, longest JSON path.
fn summary(result: Result<QueryParams, Error>) -> String {
    fn select(items: &[SelectItem], depth: usize, counts: &mut (usize, usize, usize, usize)) {
        for item in items {
            counts.0 += 1;
            match item {
                SelectItem::Embed { select: inner, .. } => {
                    counts.1 += 1;
                    counts.2 = counts.2.max(depth + 1);
                    select(inner, depth + 1, counts);
                }
                SelectItem::Field { field, .. } => counts.3 = counts.3.max(field.json_path.len()),
                _ => {}
            }
        }
    }
    fn logic(tree: &LogicTree, depth: usize, counts: &mut (usize, usize, usize)) {
        counts.0 += 1;
        match tree {
            LogicTree::Expr { children, .. } => {
                counts.1 = counts.1.max(depth);
                children.iter().for_each(|c| logic(c, depth + 1, counts))
            }
            LogicTree::Stmt(f) => counts.2 = counts.2.max(f.field.json_path.len()),
        }
    }
    let q = match result {
        Ok(q) => q,
        Err(e) => return format!("  error {}: {}\n", e.status(false), e.body(false)),
    };
    let mut s = (0, 0, 0, 0);
    select(&q.select, 0, &mut s);
    let mut l = (0, 0, 0);
    q.logic.iter().for_each(|(_, t)| logic(t, 1, &mut l));
    let terms: Vec<&OrderTerm> = q.order.iter().flat_map(|(_, o)| o).collect();
    let json = q.filters.iter().map(|(_, f)| f.field.json_path.len()).chain(terms.iter().map(|t| match &t.target {
        OrderTarget::Field(f) | OrderTarget::Related { field: f, .. } => f.json_path.len(),
    }));
    let paths =
        q.filters.iter().map(|(p, _)| p).chain(q.logic.iter().map(|(p, _)| p)).chain(q.order.iter().map(|(p, _)| p));
    format!(
        "  ok: {} select items, {} embeds, nested {}; {} filters; {} logic terms, nested {}; {} order terms; \
         JSON paths of up to {} keys; embed paths of up to {}; {} columns, {} on_conflict\n",
        s.0,
        s.1,
        s.2,
        q.filters.len(),
        l.0,
        l.1,
        terms.len(),
        json.chain([s.3, l.2]).max().unwrap_or(0),
        paths.map(Vec::len).max().unwrap_or(0),
        q.columns.map_or(0, |c| c.len()),
        q.on_conflict.map_or(0, |c| c.len()),
    )
}

#[test]
fn parse_query_cases() {
    let cases = include_str!("cases.txt");
    let mut out = String::new();
    for line in cases.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let parsed = match expand(line) {
            Some(long) => summary(parse_query(&long, false, &Limits::default())),
            None => render(parse_query(line, false, &Limits::default())),
        };
        out.push_str(&format!("{line}\n{parsed}\n"));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn preferences() {
    let p = parse_preferences(["return=representation, count=exact", "handling=strict,bogus=1"].into_iter());
    assert_eq!(p.return_, Some(ReturnPref::Representation));
    assert_eq!(p.count, Some(CountPref::Exact));
    assert!(p.strict);
    assert_eq!(p.invalid, vec!["bogus=1".to_string()]);
    assert_eq!(p.applied, vec!["return=representation", "count=exact", "handling=strict"]);
}

#[test]
fn accept_ordering() {
    let texts = |accept: Option<&str>| parse_accept(accept).iter().map(|m| m.text().into_owned()).collect::<Vec<_>>();
    assert_eq!(
        texts(Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")),
        vec!["text/html", "application/xhtml+xml", "application/xml", "*/*"]
    );
    assert_eq!(parse_accept(None), vec![MediaType::Any]);
    assert_eq!(parse_accept(Some("text/csv;q=0.5, application/json")), vec![MediaType::Json, MediaType::Csv]);
}

#[test]
fn media_types_keep_their_text() {
    let accept = "application/vnd.pgrst.object;nulls=stripped, application/vnd.pgrst.array+json, \
                  application/json;nulls=stripped, Text/HTML, application/vnd.pgrst.plan+text";
    let parsed = parse_accept(Some(accept));
    assert_eq!(parsed[0], MediaType::Object(Vnd { strip_nulls: true, json_suffix: false }));
    assert_eq!(parsed[1], MediaType::Array(Vnd { strip_nulls: false, json_suffix: true }));
    // Only PostgREST's vendor types take `nulls=stripped`; on any other the type is unknown.
    assert_eq!(parsed[2], MediaType::Other("application/json;nulls=stripped".into()));
    assert_eq!(parsed[3], MediaType::Other("text/html".into()));
    let texts: Vec<_> = parsed.iter().map(|m| m.text().into_owned()).collect();
    assert_eq!(
        texts,
        vec![
            "application/vnd.pgrst.object;nulls=stripped",
            "application/vnd.pgrst.array+json",
            "application/json;nulls=stripped",
            "text/html",
            "application/vnd.pgrst.plan+text",
        ]
    );
    let plan = parse_accept(Some(
        r#"application/vnd.pgrst.plan+json; for="application/vnd.pgrst.object"; options=analyze|verbose"#,
    ));
    assert_eq!(
        plan,
        vec![MediaType::Plan(PlanRequest {
            format: PlanFormat::Json,
            for_media: Some("application/vnd.pgrst.object+json".into()),
            options: Some(vec!["analyze".into(), "verbose".into()]),
        })]
    );
    assert_eq!(media_type::parse_content_type(Some("Text/CSV; charset=utf-8")), MediaType::Csv);
    assert_eq!(media_type::parse_content_type(Some(" ")), MediaType::Json);
}

#[test]
fn paths() {
    assert_eq!(parse_path("/").ok(), Some(Target::Root));
    assert_eq!(parse_path("/tasks").ok(), Some(Target::Relation("tasks".into())));
    assert_eq!(parse_path("/rpc/homepage").ok(), Some(Target::Routine("homepage".into())));
    assert_eq!(parse_path("/t%C3%A4sks").ok(), Some(Target::Relation("täsks".into())));
    assert!(parse_path("/a/b/c").is_err());
}

#[test]
fn csv_bodies() {
    let (v, keys) = payload::csv_to_json(b"name,done\n\"a, b\",true\nNULL,\"NULL\"\n").expect("csv");
    assert_eq!(keys, vec!["name", "done"]);
    assert_eq!(
        String::from_utf8(v).ok().as_deref(),
        Some(r#"[{"done":"true","name":"a, b"},{"done":"NULL","name":null}]"#)
    );
    assert!(payload::csv_to_json(b"a,b\n1\n").is_err());
}

#[test]
fn one_text_form_reads_and_writes() {
    for r in ReturnPref::ALL {
        assert_eq!(parse_preferences([r.as_str()].into_iter()).return_, Some(r));
    }
    for c in CountPref::ALL {
        assert_eq!(parse_preferences([c.as_str()].into_iter()).count, Some(c));
    }
    for r in Resolution::ALL {
        assert_eq!(parse_preferences([r.as_str()].into_iter()).resolution, Some(r));
    }
    let p = parse_preferences(["return = minimal"].into_iter());
    assert_eq!((p.return_, p.applied), (Some(ReturnPref::Minimal), vec!["return = minimal".to_string()]));
    assert_eq!(Method::ALL.map(Method::as_str), ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"]);
}

#[test]
fn limits_are_the_requests() {
    let tight = Limits { max_depth: 2, max_embeds: 2, max_select_items: 4, max_filters: 2 };
    let code = |q: &str, routine: bool| parse_query(q, routine, &tight).err().map(|e| e.body(false)["details"].clone());
    assert_eq!(code("select=a(b(id))", false), None);
    assert_eq!(code("select=a(b(c(id)))", false), Some("The limit is 2 (request-max-depth)".into()));
    assert_eq!(code("select=a(),b(),c()", false), Some("The limit is 2 (request-max-embeds)".into()));
    assert_eq!(code("select=a,b,c,d,e", false), Some("The limit is 4 (request-max-select-items)".into()));
    assert_eq!(code("a=eq.1&b=eq.2&order=c", false), Some("The limit is 2 (request-max-filters)".into()));
    // Function arguments count as filters, and their JSON paths are held to the depth too
    // (the plan parses them later, under the default limits).
    assert_eq!(code("a=1&b=2", true), None);
    assert_eq!(code("a=1&b=2&c=3", true), Some("The limit is 2 (request-max-filters)".into()));
    assert_eq!(code("a->b->c->d=1", true), Some("The limit is 2 (request-max-depth)".into()));
    assert!(code("a\u{0}=1", true).is_some());
    assert_eq!(Limits::default(), Limits { max_depth: 32, max_embeds: 20, max_select_items: 500, max_filters: 1000 });
}

#[test]
fn json_bodies_are_checked_without_a_tree() {
    let parse = |body: &[u8], columns: bool| match payload::parse_payload(
        &crate::api_request::MediaType::Json,
        &bytes::Bytes::copy_from_slice(body),
        columns,
    ) {
        Ok(p) => Ok((p.is_array(), p.keys().to_vec())),
        Err(e) => Err(e.body(false)["message"].as_str().unwrap_or_default().to_string()),
    };
    let keys = |k: &[&str]| k.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let (invalid, mismatch) = (Err("Empty or invalid json".to_string()), Err("All object keys must match".to_string()));
    assert_eq!(parse(br#"{"b":1,"a":[{"x":2}],"b":3}"#, false), Ok((false, keys(&["a", "b"]))));
    assert_eq!(parse(br#"[{"a":1,"b":2},{"b":3,"a":4,"a":5}]"#, false), Ok((true, keys(&["a", "b"]))));
    assert_eq!(parse(br#"[{"a\u0062":1},{"ab":2}]"#, false), Ok((true, keys(&["ab"]))));
    assert_eq!(parse(br#"[{"a":1},{"a":1,"b":2}]"#, false), mismatch);
    assert_eq!(parse(br#"[{"a":1,"b":2},{"a":1}]"#, false), mismatch);
    assert_eq!(parse(br#"[{"a":1},{"b":1}]"#, false), mismatch);
    assert_eq!(parse(br#"[{"a":1},{"b":1}]"#, true), Ok((true, keys(&["a"]))));
    assert_eq!(parse(br#"[{"a":1},1]"#, true), mismatch);
    assert_eq!(parse(br#"[1,{"a":1}]"#, true), mismatch);
    assert_eq!(parse(br#"[[],{"a":1}]"#, false), mismatch);
    // Invalid JSON anywhere wins over keys that do not match.
    assert_eq!(parse(br#"[{"a":1},{"b":1},{"c":}]"#, false), invalid);
    assert_eq!(parse(br#"[{"a":1}] x"#, false), invalid);
    assert_eq!(parse(br#"[{"a":1e400}]"#, false), invalid);
    assert_eq!(parse(br#"[{"a":1},{"a":1e400}]"#, false), invalid);
    assert_eq!(parse(br#"{"a":"\x"}"#, false), invalid);
    assert_eq!(parse(b"{\"a\":\"\xff\"}", false), invalid);
    assert_eq!(parse(b"[{\"a\":1},{\"a\":\"\xff\"}]", false), invalid);
    assert_eq!(parse(&[b'['; 200], false), invalid);
    assert_eq!(parse(b"[]", false), Ok((true, vec![])));
    assert_eq!(parse(b" 3 ", false), Ok((false, vec![])));
    assert_eq!(parse(b"\"s\"", false), Ok((false, vec![])));
}

#[test]
fn first_rows_are_found_without_a_tree() {
    assert_eq!(first_row(br#" [ {"a":1} , {"b":2} ] "#), Some(br#"{"a":1}"#.as_slice()));
    assert_eq!(first_row(br#"{"a":1}"#), Some(br#"{"a":1}"#.as_slice()));
    assert_eq!(first_row(b"[]"), None);
    assert_eq!(first_row(b"[1,"), None);
    assert_eq!(first_row(b"[1.5e2]"), Some(b"1.5e2".as_slice()));
}

#[test]
fn form_bodies() {
    let (json, keys) = payload::form_to_json(b"v=a&b=%20x&v=b&v=c").expect("form");
    assert_eq!(String::from_utf8(json).ok().as_deref(), Some(r#"{"b":" x","v":["a","b","c"]}"#));
    assert_eq!(keys, vec!["b", "v"]);
}
