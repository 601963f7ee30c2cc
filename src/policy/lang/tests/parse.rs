use super::*;

#[test]
fn each_function() {
    assert_eq!(
        p("@hasAttribute('Environment', 'Dev')"),
        attr("Environment", "Dev")
    );
    assert_eq!(
        p("@isInGroups('Engineers', 'Data Team')"),
        Expr::IsInGroups(vec!["Engineers".into(), "Data Team".into()])
    );
    assert_eq!(
        p("@hasTagAsAttribute('Department', 'dataSource')"),
        Expr::HasTagAsAttribute {
            name: "Department".into(),
            scope: Scope::DataSource
        }
    );
    assert_eq!(
        p("@hasTagAsGroup('column')"),
        Expr::HasTagAsGroup(Scope::Column)
    );
}

#[test]
fn not_binds_tighter_than_and_and_and_tighter_than_or() {
    let a = "@isInGroups('a')";
    let (b, c) = ("@isInGroups('b')", "@isInGroups('c')");
    assert_eq!(
        p(&format!("{a} OR {b} AND NOT {c}")),
        Expr::Or(vec![
            group("a"),
            Expr::And(vec![group("b"), Expr::Not(Box::new(group("c")))])
        ])
    );
    assert_eq!(
        p(&format!("NOT {a} AND {b}")),
        Expr::And(vec![Expr::Not(Box::new(group("a"))), group("b")])
    );
    assert_eq!(
        p(&format!("NOT ({a} AND {b})")),
        Expr::Not(Box::new(Expr::And(vec![group("a"), group("b")])))
    );
    // A run of one operator is one node; parentheses keep their grouping.
    assert_eq!(
        p(&format!("{a} AND {b} AND {c}")),
        Expr::And(vec![group("a"), group("b"), group("c")])
    );
    assert_eq!(
        p(&format!("{a} AND ({b} AND {c})")),
        Expr::And(vec![group("a"), Expr::And(vec![group("b"), group("c")])])
    );
    assert_eq!(p(&format!("(({a}))")), group("a"));
}

#[test]
fn keywords_and_function_names_are_case_insensitive() {
    assert_eq!(
        p("not @ISINGROUPS('a') and @HasAttribute('k','v') Or @hastagasgroup('column')"),
        p("NOT @isInGroups('a') AND @hasAttribute('k', 'v') OR @hasTagAsGroup('column')")
    );
    // Scopes and the names inside strings are exact.
    assert!(
        err("@hasTagAsGroup('DataSource')")
            .message
            .contains("'dataSource' or 'column'")
    );
    assert_ne!(p("@isInGroups('a')"), p("@isInGroups('A')"));
}

#[test]
fn strings_escape_only_quote_and_backslash() {
    assert_eq!(p(r"@isInGroups('O\'Brien')"), group("O'Brien"));
    assert_eq!(p(r"@isInGroups('a\\b')"), group(r"a\b"));
    assert_eq!(p("@isInGroups('\"quoted\" & é')"), group("\"quoted\" & é"));
    assert_eq!(
        group(r"it's \ here").to_string(),
        r"@isInGroups('it\'s \\ here')"
    );
    let e = err(r"@isInGroups('a\nb')");
    assert_eq!((e.column, e.kind), (15, ErrorKind::Syntax));
    assert!(e.message.starts_with(r"unknown escape '\n'"), "{e}");
    let e = err("@isInGroups('a\nb')");
    assert!(e.message.contains("control character U+000A"), "{e}");
}

#[test]
fn whitespace_anywhere_between_tokens() {
    assert_eq!(
        p(" \t@isInGroups ( 'a' ,\r\n'b' )\nAND\t@hasTagAsGroup('dataSource') "),
        Expr::And(vec![
            Expr::IsInGroups(vec!["a".into(), "b".into()]),
            Expr::HasTagAsGroup(Scope::DataSource)
        ])
    );
}

#[test]
fn the_canonical_text() {
    for (src, canonical) in [
        (
            "@hasattribute('Environment','Dev') and @isingroups('Engineers')",
            "@hasAttribute('Environment', 'Dev') AND @isInGroups('Engineers')",
        ),
        (
            "(@isInGroups('a') or @isInGroups('b')) and not (@isInGroups('c') and @isInGroups('d'))",
            "(@isInGroups('a') OR @isInGroups('b')) AND NOT (@isInGroups('c') AND @isInGroups('d'))",
        ),
        (
            "@isInGroups('a') or (@isInGroups('b') or @isInGroups('c'))",
            "@isInGroups('a') OR (@isInGroups('b') OR @isInGroups('c'))",
        ),
        (
            "not not @hasTagAsAttribute('D','column')",
            "NOT NOT @hasTagAsAttribute('D', 'column')",
        ),
    ] {
        let expr = p(src);
        assert_eq!(expr.to_string(), canonical);
        assert_eq!(p(canonical), expr);
    }
}
