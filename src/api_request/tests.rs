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

#[test]
fn parse_query_cases() {
    let cases = include_str!("cases.txt");
    let mut out = String::new();
    for line in cases.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        out.push_str(&format!("{line}\n{}\n", render(parse_query(line, false))));
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
    assert_eq!(v.to_string(), r#"[{"done":"true","name":"a, b"},{"done":"NULL","name":null}]"#);
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
