//! The differential property test: on random users and groups (Unicode
//! case pairs, empty and absent values, several emails, the enterprise
//! extension, nested groups), every random filter selects through SQL
//! exactly the resources `scim::filter::matches` accepts on the documents
//! GET returns; and a filter one side refuses, the other refuses too.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scim_bridge::scim::filter::{FilterLimits, matches, parse};
use scim_bridge::scim::schema::{GROUP_RESOURCE, USER_RESOURCE};
use serde_json::{Value, json};

use crate::app::TestApp;

const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const USERS: usize = 40;
const CASES: u32 = 256;

/// Pieces of text chosen for what folding and LIKE do to them.
const ALPHABET: &[&str] = &[
    "a", "A", "b", "ß", "SS", "ss", "É", "é", "e\u{301}", "İ", "i", "I", "ı", "K", "\u{212A}", "Σ",
    "σ", "ς", "ﬁ", "%", "_", "\\", "'", "\"", " ", "0", "9", "@", ".",
];

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..max).prop_map(|v| v.concat())
}

fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop::option::weighted(0.7, s)
}

fn email() -> impl Strategy<Value = Value> {
    (
        maybe(text(5)),
        maybe(prop::sample::select(&["work", "home", "other", "WORK"][..])),
        maybe(any::<bool>()),
    )
        .prop_map(|(value, ty, primary)| {
            let mut e = json!({});
            if let Some(v) = value {
                e["value"] = json!(v);
            }
            if let Some(t) = ty {
                e["type"] = json!(t);
            }
            if let Some(p) = primary {
                e["primary"] = json!(p);
            }
            e
        })
}

fn user() -> impl Strategy<Value = Value> {
    (
        text(5),
        maybe(text(4)),
        maybe(text(4)),
        maybe((maybe(text(3)), maybe(text(3)))),
        prop::collection::vec(email(), 0..4),
        maybe(text(4)),
        maybe(prop::sample::select(vec![
            json!(true),
            json!(false),
            json!("True"),
            json!("false"),
        ])),
        maybe((maybe(text(3)), maybe(text(3)), maybe(text(3)))),
    )
        .prop_map(
            |(user_name, display, title, name, mut emails, external, active, ent)| {
                // At most one primary email (more is a 400).
                let mut seen_primary = false;
                for e in &mut emails {
                    if e["primary"] == json!(true) {
                        if seen_primary {
                            e["primary"] = json!(false);
                        }
                        seen_primary = true;
                    }
                }
                let mut u = json!({
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
                    "userName": user_name,
                    "emails": emails,
                    "displayName": display,
                    "title": title,
                    "externalId": external,
                });
                if let Some((given, family)) = name {
                    u["name"] = json!({"givenName": given, "familyName": family});
                }
                if let Some(a) = active {
                    u["active"] = a;
                }
                if let Some((number, dept, manager)) = ent {
                    u[ENT] =
                        json!({"employeeNumber": number, "department": dept, "manager": manager});
                }
                u
            },
        )
}

/// Every string in the documents, case variants and pieces of them, and
/// instants around the documents' timestamps in other spellings.
fn literal_pool(docs: &[Value]) -> Vec<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::String(s) => {
                out.insert(s.clone());
                out.insert(s.to_uppercase());
                out.insert(s.to_lowercase());
                let chars: Vec<char> = s.chars().collect();
                if chars.len() > 1 {
                    out.insert(chars[..chars.len() / 2].iter().collect());
                    out.insert(chars[chars.len() / 2..].iter().collect());
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for d in docs {
        walk(d, &mut out);
        let created = d["meta"]["created"].as_str().unwrap_or_default();
        if let Ok(t) =
            time::OffsetDateTime::parse(created, &time::format_description::well_known::Rfc3339)
        {
            let rfc = |t: time::OffsetDateTime| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .unwrap()
            };
            let plus1 = time::UtcOffset::from_hms(1, 0, 0).unwrap();
            out.insert(rfc(t.to_offset(plus1)));
            out.insert(rfc(t + time::Duration::nanoseconds(500)));
            out.insert(rfc(t - time::Duration::microseconds(1)));
        }
    }
    out.extend(ALPHABET.iter().map(|s| s.to_string()));
    out.insert(String::new());
    out.into_iter().collect()
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

const USER_STRINGS: &[&str] = &[
    "userName",
    "USERNAME",
    "displayName",
    "title",
    "name.givenName",
    "name.familyName",
    "emails",
    "emails.value",
    "emails.type",
    "externalId",
    "id",
    "meta.version",
    "meta.resourceType",
    "meta.location",
    "employeeNumber",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
    "manager.value",
    "groups",
    "groups.value",
    "groups.display",
    "groups.type",
];
const USER_PRESENT: &[&str] = &[
    "userName",
    "displayName",
    "title",
    "name",
    "name.givenName",
    "emails",
    "emails.value",
    "emails.primary",
    "externalId",
    "active",
    "manager",
    "groups",
    "meta",
    "meta.created",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
    "nickName",
];
const GROUP_STRINGS: &[&str] = &[
    "displayName",
    "externalId",
    "id",
    "members",
    "members.value",
    "members.display",
    "members.type",
    "meta.version",
    "meta.location",
];
const GROUP_PRESENT: &[&str] = &["displayName", "members", "members.display", "externalId"];
const OPS: &[&str] = &["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "EQ"];
const ORDERED: &[&str] = &["eq", "ne", "gt", "ge", "lt", "le"];

fn atom(user: bool, pool: Vec<String>) -> BoxedStrategy<String> {
    let strings = if user { USER_STRINGS } else { GROUP_STRINGS };
    let present = if user { USER_PRESENT } else { GROUP_PRESENT };
    let lit = prop::sample::select(pool).prop_map(|s| quoted(&s));
    let mut choices: Vec<BoxedStrategy<String>> = vec![
        (
            prop::sample::select(strings),
            prop::sample::select(OPS),
            lit.clone(),
        )
            .prop_map(|(a, o, l)| format!("{a} {o} {l}"))
            .boxed(),
        prop::sample::select(present)
            .prop_map(|a| format!("{a} pr"))
            .boxed(),
        (
            prop::sample::select(present),
            prop::sample::select(&["eq", "ne"][..]),
        )
            .prop_map(|(a, o)| format!("{a} {o} null"))
            .boxed(),
        (
            prop::sample::select(&["meta.created", "meta.lastModified"][..]),
            prop::sample::select(ORDERED),
            lit.clone(),
        )
            .prop_map(|(a, o, l)| format!("{a} {o} {l}"))
            .boxed(),
    ];
    if user {
        let sub = (
            prop::sample::select(&["value", "type", "display"][..]),
            prop::sample::select(OPS),
            lit.clone(),
        )
            .prop_map(|(a, o, l)| format!("{a} {o} {l}"));
        let primary = prop::sample::select(
            &[
                "primary eq true",
                "primary eq false",
                "primary ne true",
                "primary eq \"True\"",
                "primary pr",
                "value pr",
                "not (type eq \"work\")",
            ][..],
        )
        .prop_map(str::to_owned);
        let inner = prop_oneof![sub.clone(), primary.clone()];
        let inner2 = (
            inner.clone(),
            prop::sample::select(&["and", "or"][..]),
            inner.clone(),
        )
            .prop_map(|(a, j, b)| format!("{a} {j} {b}"));
        let element = prop_oneof![inner, inner2];
        choices.extend([
            element.clone().prop_map(|f| format!("emails[{f}]")).boxed(),
            (
                element,
                prop::sample::select(&["eq", "co", "ne", "gt"][..]),
                lit.clone(),
            )
                .prop_map(|(f, o, l)| format!("emails[{f}].value {o} {l}"))
                .boxed(),
            (
                prop::sample::select(&["active", "emails.primary"][..]),
                prop::sample::select(&["eq", "ne"][..]),
                prop::sample::select(&["true", "false", "\"True\"", "\"FALSE\""][..]),
            )
                .prop_map(|(a, o, l)| format!("{a} {o} {l}"))
                .boxed(),
            (
                prop::sample::select(&["type", "display", "value"][..]),
                prop::sample::select(OPS),
                lit.clone(),
            )
                .prop_map(|(a, o, l)| format!("groups[{a} {o} {l}]"))
                .boxed(),
            (
                prop::sample::select(&["givenName", "familyName"][..]),
                prop::sample::select(OPS),
                lit,
            )
                .prop_map(|(a, o, l)| format!("name[not ({a} {o} {l})]"))
                .boxed(),
        ]);
    } else {
        choices.push(
            (
                prop::sample::select(&["type", "display", "value"][..]),
                prop::sample::select(OPS),
                lit,
            )
                .prop_map(|(a, o, l)| format!("members[{a} {o} {l}]"))
                .boxed(),
        );
    }
    prop::strategy::Union::new(choices).boxed()
}

fn filter(user: bool, pool: Vec<String>) -> BoxedStrategy<String> {
    atom(user, pool)
        .prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) and ({b})")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) or ({b})")),
                inner.prop_map(|a| format!("not ({a})")),
            ]
        })
        .boxed()
}

async fn list(app: &TestApp, endpoint: &str, filter: Option<&str>) -> (u16, Value) {
    list_with(app, endpoint, filter, None).await
}

/// `attributes`: what the answer holds besides what is returned by default.
async fn list_with(
    app: &TestApp,
    endpoint: &str,
    filter: Option<&str>,
    attributes: Option<&str>,
) -> (u16, Value) {
    let mut q = vec![("count", "1000".to_owned())];
    if let Some(f) = filter {
        q.push(("filter", f.to_owned()));
    }
    if let Some(a) = attributes {
        q.push(("attributes", a.to_owned()));
    }
    let r = app
        .client
        .get(format!("{}{endpoint}", app.scim()))
        .query(&q)
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn ids(list: &Value) -> BTreeSet<String> {
    list["Resources"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Creates the random users and groups of one world.
async fn populate(app: &TestApp, rng_seed: u8) {
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[rng_seed; 32]),
    );
    let mut created = Vec::new();
    for i in 0..USERS {
        let mut u = user().new_tree(&mut runner).unwrap().current();
        // A userName may not begin with whitespace (the userName rule).
        let name = u["userName"].as_str().unwrap().trim_start();
        u["userName"] = json!(format!("{name}-{i}"));
        let r = app.post("/Users", &u).await;
        assert_eq!(r.status(), 201, "create {u}");
        let doc: Value = r.json().await.unwrap();
        created.push(doc["id"].as_str().unwrap().to_owned());
    }
    let members = |range: std::ops::Range<usize>| -> Vec<Value> {
        created[range]
            .iter()
            .map(|id| json!({"value": id}))
            .collect()
    };
    let inner: Value = app
        .post(
            "/Groups",
            &json!({"displayName": "Ünits-ß", "members": members(0..8), "externalId": "E-1"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut outer_members = members(5..12);
    outer_members.push(json!({"value": inner["id"]}));
    let r = app
        .post(
            "/Groups",
            &json!({"displayName": "ALL_%", "members": outer_members}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app.post("/Groups", &json!({"displayName": "empty"})).await;
    assert_eq!(r.status(), 201);
}

/// Runs the random filters of one resource type against one world.
fn check(app: &TestApp, endpoint: &'static str, docs: Vec<Value>, seed: u8) {
    let user = endpoint == "/Users";
    let rt = if user {
        &USER_RESOURCE
    } else {
        &GROUP_RESOURCE
    };
    let strategy = filter(user, literal_pool(&docs));
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: CASES,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    let handle = tokio::runtime::Handle::current();
    let stats = std::cell::Cell::new((0, 0, 0));
    let result = runner.run(&strategy, |f| {
        let (status, body) =
            tokio::task::block_in_place(|| handle.block_on(list(app, endpoint, Some(&f))));
        let expected = parse(&f, &FilterLimits::default()).and_then(|parsed| {
            let mut hits = BTreeSet::new();
            for d in &docs {
                if matches(&parsed, rt, d)? {
                    hits.insert(d["id"].as_str().unwrap().to_owned());
                }
            }
            Ok(hits)
        });
        let (ok, some, refused) = stats.get();
        match &expected {
            Ok(h) => stats.set((
                ok + 1,
                some + usize::from(!h.is_empty() && h.len() < docs.len()),
                refused,
            )),
            Err(_) => stats.set((ok, some, refused + 1)),
        }
        match expected {
            Ok(hits) => {
                prop_assert_eq!(status, 200, "{} refused by SQL: {}", f, body);
                prop_assert_eq!(ids(&body), hits, "filter {}", f);
            }
            Err(e) => prop_assert_eq!(
                status,
                400,
                "{} refused by the evaluator ({:?}), SQL says {}",
                f,
                e,
                body
            ),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{endpoint} on {:?}: {e}", app.backend);
    }
    let (ok, some, refused) = stats.get();
    eprintln!(
        "{endpoint}: {ok} filters answered ({some} selecting some but not all), {refused} refused by both"
    );
}

pub async fn sql_agrees_with_the_evaluator(app: &TestApp) {
    let started = std::time::Instant::now();
    populate(app, 7).await;
    let (_, users) = list(app, "/Users", None).await;
    // Every attribute a filter may name, `members.display` (returned on
    // request) included, for the evaluator to judge.
    let (_, groups) = list_with(
        app,
        "/Groups",
        None,
        Some("displayName,externalId,members,members.display,meta"),
    )
    .await;
    let users = users["Resources"].as_array().unwrap().clone();
    let groups = groups["Resources"].as_array().unwrap().clone();
    assert_eq!(users.len(), USERS);
    let populated = started.elapsed();
    check(app, "/Users", users, 11);
    check(app, "/Groups", groups, 13);
    eprintln!(
        "differential filters on {:?}: populate {populated:?}, {} cases in {:?}",
        app.backend,
        2 * CASES,
        started.elapsed() - populated
    );
}
