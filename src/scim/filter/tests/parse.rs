use super::*;
use crate::scim::filter::*;

#[test]
fn simple_comparison() {
    assert_eq!(
        p(r#"userName eq "bjensen""#),
        cmp("userName", CompareOp::Eq, str_lit("bjensen"))
    );
}

#[test]
fn every_operator_in_any_case() {
    for (word, op) in [
        ("eq", CompareOp::Eq),
        ("NE", CompareOp::Ne),
        ("Co", CompareOp::Co),
        ("sW", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("GT", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("Lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ] {
        assert_eq!(
            p(&format!("title {word} \"x\"")),
            cmp("title", op, str_lit("x"))
        );
    }
    assert_eq!(p("title pr"), pr("title"));
    assert_eq!(p("title PR"), pr("title"));
}

#[test]
fn literals() {
    assert_eq!(p("a eq true"), cmp("a", CompareOp::Eq, Literal::Bool(true)));
    assert_eq!(
        p("a eq False"),
        cmp("a", CompareOp::Eq, Literal::Bool(false))
    );
    assert_eq!(p("a eq NULL"), cmp("a", CompareOp::Eq, Literal::Null));
    let num = |s: &str| match p(&format!("a eq {s}")) {
        Filter::Compare {
            value: Literal::Number(n),
            ..
        } => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(num("42").as_i64(), Some(42));
    assert_eq!(num("-7").as_i64(), Some(-7));
    assert_eq!(num("0").as_i64(), Some(0));
    assert_eq!(num("18446744073709551615").as_u64(), Some(u64::MAX));
    assert_eq!(num("1.5").as_f64(), Some(1.5));
    assert_eq!(num("1e3").as_f64(), Some(1000.0));
    assert!(num("1e3").is_f64());
    assert_eq!(num("-2.5E-3").as_f64(), Some(-0.0025));
    assert_eq!(num("1E+2").as_f64(), Some(100.0));
    assert_eq!(num("99999999999999999999").as_f64(), Some(1e20));
    assert!(err("a eq 1e400").contains("number out of range at position 5"));
    assert!(err("a eq 1.").contains("expected digit at position 7"));
    assert!(err("a eq -x").contains("expected digit at position 6, found 'x'"));
    assert!(err("a eq 1e").contains("expected digit"));
    assert!(err("a eq 01").contains("expected 'and', 'or' or end of filter at position 6"));
    assert!(err("a eq yes").contains("expected a value"));
    assert!(err("a eq truex").contains("found 'truex'"));
    assert!(err("a eq 'x'").contains("found '''"));
}

#[test]
fn dates_are_strings() {
    assert_eq!(
        p(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#),
        cmp(
            "meta.lastModified",
            CompareOp::Gt,
            str_lit("2011-05-13T04:42:34Z")
        )
    );
}

#[test]
fn string_escapes() {
    let s = |src: &str| match p(&format!("a eq {src}")) {
        Filter::Compare {
            value: Literal::String(s),
            ..
        } => s,
        other => panic!("{other:?}"),
    };
    assert_eq!(s(r#""a\"b\\c\/d""#), "a\"b\\c/d");
    assert_eq!(s(r#""\b\f\n\r\t""#), "\u{8}\u{c}\n\r\t");
    assert_eq!(s(r#""\u00e9\u00C9""#), "éÉ");
    assert_eq!(s(r#""\ud83d\ude00!""#), "😀!");
    assert_eq!(s(r#""""#), "");
    assert_eq!(s("\"émile 😀\""), "émile 😀");
    assert!(err(r#"a eq "\ud83d""#).contains("unpaired surrogate in \\u escape at position 6"));
    assert!(err(r#"a eq "\ud83dx""#).contains("unpaired surrogate"));
    assert!(err(r#"a eq "\ude00""#).contains("unpaired surrogate"));
    assert!(err(r#"a eq "\ud83d\u0041""#).contains("unpaired surrogate"));
    assert!(err(r#"a eq "\x""#).contains("expected escape character"));
    assert!(err(r#"a eq "\u12""#).contains("expected four hex digits at position 8"));
    assert!(err(r#"a eq "abc"#).contains("unterminated string starting at position 5"));
    assert!(err(r#"a eq "abc\"#).contains("expected escape character"));
}

#[test]
fn precedence_and_associativity() {
    assert_eq!(
        p("a pr or b pr and c pr"),
        or(pr("a"), and(pr("b"), pr("c")))
    );
    assert_eq!(
        p("a pr and b pr or c pr"),
        or(and(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
    assert_eq!(
        p("a pr and b pr and c pr"),
        and(and(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        p("(a pr or b pr) and c pr"),
        and(or(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(
        p("a pr AND b pr Or c pr"),
        or(and(pr("a"), pr("b")), pr("c"))
    );
    assert_eq!(p("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
    assert_eq!(p("not (a pr or b pr)"), not(or(pr("a"), pr("b"))));
    assert_eq!(p("((a pr))"), pr("a"));
}

#[test]
fn not_forms() {
    assert_eq!(p("not (a pr)"), not(pr("a")));
    assert_eq!(p("NOT(a pr)"), not(pr("a")));
    assert_eq!(p("not   (  a pr  )"), not(pr("a")));
    assert_eq!(p("not(not(a pr))"), not(not(pr("a"))));
    // Without a parenthesis "not" is an attribute name.
    assert_eq!(p("not pr"), pr("not"));
    assert_eq!(
        p("not eq 1"),
        cmp("not", CompareOp::Eq, Literal::Number(1.into()))
    );
    // Keywords stand alone: these are attribute names.
    assert_eq!(p("a pr or order pr"), or(pr("a"), pr("order")));
    assert_eq!(p("android pr"), pr("android"));
}

#[test]
fn lenient_whitespace() {
    let expected = and(cmp("a", CompareOp::Eq, str_lit("x")), pr("b"));
    for s in [
        r#"a eq "x" and b pr"#,
        "  a   eq  \"x\"   and   b   pr  ",
        "a\teq\t\"x\"\tand\tb\tpr",
        "a eq \"x\"\r\nand b pr",
        r#"a eq"x" and b pr"#,
        r#"(a eq "x")and(b pr)"#,
    ] {
        assert_eq!(p(s), expected, "{s:?}");
    }
}

#[test]
fn paths() {
    let dept = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    assert_eq!(
        p(&format!("{dept} eq \"Sales\"")),
        Filter::Compare {
            path: AttrPath {
                urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
                attr: "department".into(),
                sub: None,
            },
            op: CompareOp::Eq,
            value: str_lit("Sales"),
        }
    );
    assert_eq!(
        p("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value pr"),
        Filter::Present(AttrPath {
            urn: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            attr: "manager".into(),
            sub: Some("value".into()),
        })
    );
    assert_eq!(
        p("name.familyName pr"),
        Filter::Present(AttrPath {
            urn: None,
            attr: "name".into(),
            sub: Some("familyName".into()),
        })
    );
    assert_eq!(p("members.$ref pr"), pr("members.$ref"));
    assert_eq!(p("user-name_2 pr"), pr("user-name_2"));
    assert!(
        err("name.givenName.x pr")
            .contains("expected sub-attribute name at position 5, found 'givenName.x'")
    );
    assert!(err("1abc pr").contains("expected attribute name at position 0, found '1abc'"));
    assert!(err(":abc pr").contains("expected attribute name at position 0"));
    assert!(err("urn:x: pr").contains("expected attribute name at position 6"));
    assert!(err("name. pr").contains("expected sub-attribute name at position 5"));
    assert!(err("").contains("expected attribute name at position 0, found end of filter"));
    assert!(err("   ").contains("found end of filter"));
}

#[test]
fn value_paths() {
    let work_primary = Filter::ValuePath {
        attr: path("emails"),
        filter: Box::new(and(
            cmp("type", CompareOp::Eq, str_lit("work")),
            cmp("primary", CompareOp::Eq, Literal::Bool(true)),
        )),
    };
    assert_eq!(
        p(r#"emails[type eq "work" and primary eq true]"#),
        work_primary
    );
    assert_eq!(
        p(r#"emails [ type eq "work"  and primary eq true ]"#),
        work_primary
    );
    assert_eq!(
        p(r#"emails[type eq "work" and primary eq true] or userName pr"#),
        or(work_primary.clone(), pr("userName"))
    );
    assert_eq!(
        p(r#"emails[type eq "work"].value eq "x""#),
        Filter::ValuePathSub {
            attr: path("emails"),
            filter: Box::new(cmp("type", CompareOp::Eq, str_lit("work"))),
            sub: "value".into(),
            test: AttrTest::Compare(CompareOp::Eq, str_lit("x")),
        }
    );
    assert_eq!(
        p(r#"emails[not (type eq "work")].value PR"#),
        Filter::ValuePathSub {
            attr: path("emails"),
            filter: Box::new(not(cmp("type", CompareOp::Eq, str_lit("work")))),
            sub: "value".into(),
            test: AttrTest::Present,
        }
    );
    let mgr = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager";
    assert_eq!(
        p(&format!("{mgr}[value pr]")),
        Filter::ValuePath {
            attr: path(mgr),
            filter: Box::new(pr("value")),
        }
    );
    assert!(
        err(r#"emails[type[value eq "x"]]"#)
            .contains("value filters cannot be nested at position 11")
    );
    assert!(
        err(r#"emails[type eq "work""#)
            .contains("expected 'and', 'or' or ']' at position 21, found end of filter")
    );
    assert!(
        err(r#"emails[emails.type eq "work"]"#)
            .contains("expected sub-attribute name at position 7, found 'emails.type'")
    );
    assert!(err(r#"emails[urn:x:type eq "work"]"#).contains("expected sub-attribute name"));
    assert!(
        err(r#"name.givenName[x pr]"#)
            .contains("must follow an attribute name without a sub-attribute")
    );
    assert!(err(r#"emails[type pr]. pr"#).contains("expected sub-attribute name at position 16"));
    assert!(
        err(r#"emails[type pr].value"#)
            .contains("expected comparison operator at position 21, found end of filter")
    );
    assert!(err(r#"emails[]"#).contains("expected sub-attribute name at position 7, found ']'"));
}

#[test]
fn error_messages_say_where_and_what() {
    assert_eq!(
        err(r#"userName equals "x""#),
        "expected comparison operator at position 9, found 'equals'"
    );
    assert_eq!(
        err("userName eq"),
        "expected a value (a string in double quotes, a number, true, false or null) at position 11, found end of filter"
    );
    assert_eq!(
        err(r#"userName eq "x" and"#),
        "expected attribute name at position 19, found end of filter"
    );
    assert_eq!(
        err(r#"(userName eq "x""#),
        "expected 'and', 'or' or ')' at position 16, found end of filter"
    );
    assert_eq!(
        err(r#"userName eq "x")"#),
        "expected 'and', 'or' or end of filter at position 15, found ')'"
    );
    assert_eq!(
        err(r#"userName eq "x" nor b pr"#),
        "expected 'and', 'or' or end of filter at position 16, found 'nor'"
    );
    assert_eq!(
        err("userName=x"),
        "expected comparison operator at position 8, found '='"
    );
    // Positions count characters, not bytes.
    assert_eq!(
        err(r#"displayName eq "ÉÉÉ" x"#),
        "expected 'and', 'or' or end of filter at position 21, found 'x'"
    );
    assert_eq!(
        err("😀 pr"),
        "expected attribute name at position 0, found '😀'"
    );
}
