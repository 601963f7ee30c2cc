use proptest::prelude::*;

use super::*;
use crate::scim::filter::*;

#[test]
fn display_is_canonical() {
    let cases = [
        (r#"userName Eq "bjensen""#, r#"userName eq "bjensen""#),
        ("a pr OR b pr AND c pr", "a pr or b pr and c pr"),
        ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
        ("a pr and (b pr or c pr)", "a pr and (b pr or c pr)"),
        ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
        ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
        ("(a pr and b pr) or c pr", "a pr and b pr or c pr"),
        ("NOT(a pr)", "not (a pr)"),
        ("a eq TRUE", "a eq true"),
        ("a eq Null", "a eq null"),
        ("a eq 1E2", "a eq 100.0"),
        ("a eq -0.5", "a eq -0.5"),
        (
            r#"a eq "\u00e9\n\"\\\/\u0001""#,
            "a eq \"é\\n\\\"\\\\/\\u0001\"",
        ),
        (
            r#"emails[type eq "work" and not (primary eq false)].value sw "a""#,
            r#"emails[type eq "work" and not (primary eq false)].value sw "a""#,
        ),
        (
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr",
        ),
    ];
    for (input, printed) in cases {
        let f = p(input);
        assert_eq!(f.to_string(), printed, "{input}");
        assert_eq!(p(printed), f, "{input}");
    }
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,6}",
        Just("$ref".to_owned()),
        Just("not".to_owned()),
        Just("or".to_owned()),
        Just("pr".to_owned()),
        Just("true".to_owned()),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::String),
        "[\\x00-\\x7f]{0,5}".prop_map(Literal::String),
        any::<i64>().prop_map(|n| Literal::Number(n.into())),
        any::<u64>().prop_map(|n| Literal::Number(n.into())),
        any::<f64>()
            .prop_filter_map("finite", serde_json::Number::from_f64)
            .prop_map(Literal::Number),
        any::<bool>().prop_map(Literal::Bool),
        Just(Literal::Null),
    ]
}

fn op() -> impl Strategy<Value = CompareOp> {
    prop_oneof![
        Just(CompareOp::Eq),
        Just(CompareOp::Ne),
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew),
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le),
    ]
}

fn attr_test() -> impl Strategy<Value = AttrTest> {
    prop_oneof![
        Just(AttrTest::Present),
        (op(), literal()).prop_map(|(o, l)| AttrTest::Compare(o, l)),
    ]
}

fn test_filter(path: AttrPath, test: AttrTest) -> Filter {
    match test {
        AttrTest::Present => Filter::Present(path),
        AttrTest::Compare(op, value) => Filter::Compare { path, op, value },
    }
}

fn logical(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| and(a, b)),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| or(a, b)),
            inner.prop_map(not),
        ]
    })
}

fn top_path() -> impl Strategy<Value = AttrPath> {
    (
        proptest::option::of("urn:[a-z]{1,4}(:[a-zA-Z0-9.-]{1,4}){0,3}"),
        name(),
        proptest::option::of(name()),
    )
        .prop_map(|(urn, attr, sub)| AttrPath { urn, attr, sub })
}

fn filter() -> impl Strategy<Value = Filter> {
    let inner = logical(
        (name(), attr_test())
            .prop_map(|(n, t)| test_filter(AttrPath::name(n), t))
            .boxed(),
    );
    let value_path = (
        top_path(),
        inner,
        proptest::option::of((name(), attr_test())),
    )
        .prop_map(|(mut attr, filter, then)| {
            attr.sub = None;
            let filter = Box::new(filter);
            match then {
                None => Filter::ValuePath { attr, filter },
                Some((sub, test)) => Filter::ValuePathSub {
                    attr,
                    filter,
                    sub,
                    test,
                },
            }
        });
    let leaf = prop_oneof![
        3 => (top_path(), attr_test()).prop_map(|(p, t)| test_filter(p, t)),
        1 => value_path,
    ];
    logical(leaf.boxed())
}

proptest! {
    #[test]
    fn print_then_parse_is_identity(f in filter()) {
        let printed = f.to_string();
        let limits = limits(usize::MAX, 32, 200);
        let reparsed = parse(&printed, &limits);
        prop_assert_eq!(reparsed, Ok(f), "{}", printed);
    }

    #[test]
    fn arbitrary_input_never_panics(s in "\\PC{0,64}") {
        let _ = parse(&s, &FilterLimits::default());
    }

    #[test]
    fn filter_like_input_never_panics(s in "[a-z()\\[\\]\" .:\\\\0-9-]{0,64}") {
        let _ = parse(&s, &FilterLimits::default());
    }
}
