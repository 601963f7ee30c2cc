//! Filter → SQL translation on arbitrary filters (issue 3 item 8): parse,
//! resolve against User and Group, translate for SQLite and PostgreSQL,
//! without a base URL (`translate`) and with one (`translate_at`, which
//! `meta.location` and `$ref` filters need).
//! Checks, besides "no panic" and the 100 ms budget (per parse and per
//! translation):
//!
//! - nothing from a literal reaches the SQL text. Two oracles:
//!   * canary: every string literal that could carry arbitrary text is
//!     rewritten to `<literal><CANARY>`; the SQL of the rewritten filter
//!     must not contain the canary (case-insensitively: the translator may
//!     fold). A literal that is only letters, digits and `:.+-_{}` and has a
//!     digit or is `true`/`false` is kept as it is, so that dateTime, UUID
//!     and boolean comparisons still resolve and get translated;
//!   * such kept literals (and numbers) with four digits or more must not
//!     appear in the SQL text either (case-insensitively): no SQL the
//!     translator writes has a run of four digits.
//! - the placeholders `$n` in the SQL are exactly `$2 … $(1 + binds.len())`
//!   (each number at least once; a number may be used more than once);
//! - the SQL has balanced single quotes, and balanced parentheses outside
//!   quoted text;
//! - a translation error is a client error (4xx), never a 500.
//!
//! The translator may refuse filters it does not support yet: only a
//! successful translation is checked.
#![no_main]

mod common;

use common::timed;
use libfuzzer_sys::fuzz_target;
use scim_bridge::scim::filter::{AttrTest, Filter, FilterLimits, Literal, parse, resolve};
use scim_bridge::scim::schema::{GROUP_RESOURCE, ResourceTypeDef, USER_RESOURCE};
use scim_bridge::store::ResourceKind;
use scim_bridge::store::sql_filter::{Dialect, translate, translate_at};

/// Written in lower case: the SQL is searched case-insensitively.
const CANARY: &str = "qzx7canary'\"%_\\;--";
const CANARY_NEEDLE: &str = "qzx7canary";
const FIRST_PARAM: usize = 2;
/// `meta.location` and `$ref` filters need the base URL (`translate_at`);
/// without one (`translate`) they are refused.
const BASE_URLS: [Option<&str>; 2] = [None, Some("https://scim.example.com/scim/v2")];

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    check(input, data);
});

fn check(input: &str, data: &[u8]) {
    let Ok(filter) = timed("parse", data, || parse(input, &FilterLimits::default())) else {
        return;
    };
    let canaried = with_canaries(&filter);
    let mut kept = Vec::new();
    kept_literals(&filter, &mut kept);

    let kinds: [(&ResourceTypeDef, ResourceKind); 2] = [
        (&USER_RESOURCE, ResourceKind::User),
        (&GROUP_RESOURCE, ResourceKind::Group),
    ];
    for (rt, kind) in kinds {
        let resolves = resolve(&filter, rt).is_ok();
        let canary_resolves = resolve(&canaried, rt).is_ok();
        for (dialect, base) in targets() {
            if resolves {
                let sql = translated(&filter, kind, dialect, base, data);
                if let Some(sql) = sql {
                    let lower = sql.to_lowercase();
                    for lit in &kept {
                        assert!(
                            !lower.contains(lit.as_str()),
                            "literal {lit:?} of {filter} is in the SQL text: {sql}"
                        );
                    }
                }
            }
            if canary_resolves && let Some(sql) = translated(&canaried, kind, dialect, base, data) {
                assert!(
                    !sql.to_lowercase().contains(CANARY_NEEDLE),
                    "a literal of {canaried} reached the SQL text ({kind:?}, {dialect:?}): {sql}"
                );
            }
        }
    }
}

fn targets() -> impl Iterator<Item = (Dialect, Option<&'static str>)> {
    [Dialect::Sqlite, Dialect::Postgres]
        .into_iter()
        .flat_map(|d| BASE_URLS.into_iter().map(move |b| (d, b)))
}

/// Translates and checks the shape of the result; the SQL text on success.
fn translated(
    filter: &Filter,
    kind: ResourceKind,
    dialect: Dialect,
    base: Option<&str>,
    data: &[u8],
) -> Option<String> {
    let result = timed("translate", data, || match base {
        None => translate(filter, kind, dialect, FIRST_PARAM),
        Some(url) => translate_at(filter, kind, dialect, FIRST_PARAM, Some(url)),
    });
    let cond = match result {
        Ok(cond) => cond,
        Err(e) => {
            assert!(
                (400..500).contains(&e.status),
                "translating {filter} ({kind:?}, {dialect:?}) failed with a server error: {e:?}"
            );
            return None;
        }
    };
    let sql = cond.sql;
    assert!(
        !sql.trim().is_empty(),
        "empty SQL for {filter} ({kind:?}, {dialect:?})"
    );
    let used = placeholders(&sql);
    let expected: Vec<usize> = (FIRST_PARAM..FIRST_PARAM + cond.binds.len()).collect();
    assert_eq!(
        used,
        expected,
        "placeholders of {filter} ({kind:?}, {dialect:?}) do not match its {} binds: {sql}",
        cond.binds.len()
    );
    check_balance(&sql, filter);
    Some(sql)
}

/// The distinct numbers `n` of `$n` (or `?n`) placeholders, sorted. A `$`
/// or `?` preceded by a name character or inside single quotes is not one.
fn placeholders(sql: &str) -> Vec<usize> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut quoted = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' {
            quoted = !quoted;
        } else if !quoted
            && (c == b'$' || c == b'?')
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_'))
        {
            let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
            if digits > 0 {
                let n: usize = sql[i + 1..i + 1 + digits].parse().unwrap_or(usize::MAX);
                out.push(n);
                i += digits;
            }
        }
        i += 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn check_balance(sql: &str, filter: &Filter) {
    let mut quoted = false;
    let mut depth: i64 = 0;
    for c in sql.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced ')' in the SQL of {filter}: {sql}");
            }
            _ => {}
        }
    }
    assert!(!quoted, "unterminated quote in the SQL of {filter}: {sql}");
    assert_eq!(depth, 0, "unbalanced '(' in the SQL of {filter}: {sql}");
}

/// A literal the canary leaves alone: dateTime-, UUID- or boolean-shaped.
fn keeps_shape(s: &str) -> bool {
    let safe = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ":.+-_{}".contains(c));
    safe && (s.chars().any(|c| c.is_ascii_digit())
        || s.eq_ignore_ascii_case("true")
        || s.eq_ignore_ascii_case("false"))
}

fn canary_literal(lit: &Literal) -> Literal {
    match lit {
        Literal::String(s) if !keeps_shape(s) => Literal::String(format!("{s}{CANARY}")),
        other => other.clone(),
    }
}

fn with_canaries(f: &Filter) -> Filter {
    let b = |f: &Filter| Box::new(with_canaries(f));
    match f {
        Filter::Compare { path, op, value } => Filter::Compare {
            path: path.clone(),
            op: *op,
            value: canary_literal(value),
        },
        Filter::Present(p) => Filter::Present(p.clone()),
        Filter::And(l, r) => Filter::And(b(l), b(r)),
        Filter::Or(l, r) => Filter::Or(b(l), b(r)),
        Filter::Not(inner) => Filter::Not(b(inner)),
        Filter::ValuePath { attr, filter } => Filter::ValuePath {
            attr: attr.clone(),
            filter: b(filter),
        },
        Filter::ValuePathSub {
            attr,
            filter,
            sub,
            test,
        } => Filter::ValuePathSub {
            attr: attr.clone(),
            filter: b(filter),
            sub: sub.clone(),
            test: match test {
                AttrTest::Present => AttrTest::Present,
                AttrTest::Compare(op, v) => AttrTest::Compare(*op, canary_literal(v)),
            },
        },
    }
}

/// Lower-cased text of the literals the canary keeps (and of numbers) that
/// have at least four digits: they must not appear in any SQL text.
fn kept_literals(f: &Filter, out: &mut Vec<String>) {
    let mut add = |lit: &Literal| {
        let text = match lit {
            Literal::String(s) if keeps_shape(s) => s.to_lowercase(),
            Literal::Number(n) => n.to_string(),
            _ => return,
        };
        if text.chars().filter(char::is_ascii_digit).count() >= 4 {
            out.push(text);
        }
    };
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match f {
            Filter::Compare { value, .. } => add(value),
            Filter::Present(_) => {}
            Filter::And(l, r) | Filter::Or(l, r) => {
                stack.push(l);
                stack.push(r);
            }
            Filter::Not(inner) => stack.push(inner),
            Filter::ValuePath { filter, .. } => stack.push(filter),
            Filter::ValuePathSub { filter, test, .. } => {
                stack.push(filter);
                if let AttrTest::Compare(_, v) = test {
                    add(v);
                }
            }
        }
    }
}
