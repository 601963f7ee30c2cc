use proptest::prelude::*;

use super::super::{Expr, Limits, Scope, parse};

/// Names and values the language can hold: printable, not only spaces,
/// quotes and backslashes included.
fn text() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z0-9 '\\\\.é_-]{0,11}[a-zA-Z0-9'\\\\é]"
}

fn scope() -> impl Strategy<Value = Scope> {
    prop_oneof![Just(Scope::DataSource), Just(Scope::Column)]
}

/// Trees the parser can produce (`And`/`Or` of two to four operands),
/// with names and values drawn from `text`.
pub(crate) fn expr_with<S>(text: S) -> impl Strategy<Value = Expr>
where
    S: Strategy<Value = String> + Clone + 'static,
{
    let leaf = prop_oneof![
        (text.clone(), text.clone()).prop_map(|(name, value)| Expr::HasAttribute { name, value }),
        prop::collection::vec(text.clone(), 1..4).prop_map(Expr::IsInGroups),
        (text, scope()).prop_map(|(name, scope)| Expr::HasTagAsAttribute { name, scope }),
        scope().prop_map(Expr::HasTagAsGroup),
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
            prop::collection::vec(inner.clone(), 2..5).prop_map(Expr::And),
            prop::collection::vec(inner, 2..5).prop_map(Expr::Or),
        ]
    })
}

/// Texts made of the language's tokens, valid or not.
fn token_soup() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("@hasAttribute".to_owned()),
        Just("@isInGroups".to_owned()),
        Just("@hasTagAsAttribute".to_owned()),
        Just("@hasTagAsGroup".to_owned()),
        Just("AND".to_owned()),
        Just("or".to_owned()),
        Just("NOT".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just(",".to_owned()),
        Just("'dataSource'".to_owned()),
        Just("'column'".to_owned()),
        text().prop_map(|t| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "\\'"))),
        "[ \t\n'\\\\@a-z]{1,3}",
    ];
    prop::collection::vec(token, 0..24).prop_map(|t| t.join(" "))
}

proptest! {
    #[test]
    fn printed_trees_parse_back_to_themselves(e in expr_with(text())) {
        let text = e.to_string();
        prop_assert_eq!(parse(&text, &Limits::DEFAULT), Ok(e), "{}", text);
    }

    #[test]
    fn any_text_parses_or_fails_cleanly(src in prop_oneof![token_soup(), ".{0,64}"]) {
        match parse(&src, &Limits::DEFAULT) {
            Ok(e) => prop_assert_eq!(parse(&e.to_string(), &Limits::DEFAULT), Ok(e)),
            Err(e) => {
                prop_assert!(e.offset <= src.len() && src.is_char_boundary(e.offset));
                prop_assert!(!e.message.is_empty());
            }
        }
    }
}
