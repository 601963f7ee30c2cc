use super::*;
use crate::scim::filter::*;

#[test]
fn length_limit_counts_characters() {
    let l = limits(20, 32, 200);
    assert!(parse(r#"a eq "1234567890123""#, &l).is_ok());
    let e = parse(r#"a eq "12345678901234""#, &l).unwrap_err();
    assert_eq!(e.detail, "filter is longer than 20 characters");
    // 20 characters, 34 bytes.
    assert!(parse(r#"a eq "ééééééééééééé""#, &l).is_ok());
    let huge = "a".repeat(10_000_000);
    assert!(parse(&huge, &FilterLimits::default()).is_err());
}

#[test]
fn depth_bombs_fail_cleanly() {
    let unlimited_len = limits(usize::MAX, 32, 200);
    for n in [33, 1_000, 200_000] {
        let parens = format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        let e = parse(&parens, &unlimited_len).unwrap_err();
        assert!(
            e.detail
                .starts_with("filter nests deeper than 32 levels at position 32"),
            "{}",
            e.detail
        );
        let nots = format!("{}a pr{}", "not(".repeat(n), ")".repeat(n));
        assert!(
            parse(&nots, &unlimited_len)
                .unwrap_err()
                .detail
                .contains("nests deeper")
        );
        let open = "(".repeat(n);
        assert!(parse(&open, &unlimited_len).is_err());
    }
    let ok = format!("{}a pr{}", "(".repeat(32), ")".repeat(32));
    assert!(parse(&ok, &unlimited_len).is_ok());
    let ok = format!("{}a pr{}", "not (".repeat(31), ")".repeat(31));
    assert_eq!(parse(&ok, &FilterLimits::default()).map(|_| ()), Ok(()));
    // A value filter is one level too.
    let l = limits(4096, 2, 200);
    assert!(
        parse("(emails[(type pr)])", &l)
            .unwrap_err()
            .detail
            .contains("nests deeper than 2")
    );
    assert!(parse("(emails[type pr])", &l).is_ok());
}

#[test]
fn term_limit() {
    let terms = |n: usize| vec!["a pr"; n].join(" or ");
    assert!(parse(&terms(200), &FilterLimits::default()).is_ok());
    let e = parse(&terms(201), &FilterLimits::default()).unwrap_err();
    assert!(
        e.detail.starts_with("filter has more than 200 comparisons"),
        "{}",
        e.detail
    );
    let l = limits(4096, 32, 2);
    assert!(parse(r#"emails[type pr and value pr]"#, &l).is_ok());
    assert!(parse(r#"emails[type pr and value pr].display pr"#, &l).is_err());
}

#[test]
fn garbage_never_panics() {
    let inputs = [
        "\"",
        "\\",
        "[",
        "]",
        "(",
        ")",
        "a[",
        "a]",
        "a eq \"\\u",
        "a eq \"\\ud800\\",
        "a eq -",
        "a eq 1e+",
        ".",
        "..",
        "a..b pr",
        "a pr and",
        "a pr or (",
        "not",
        "not (",
        "not()",
        "a eq \"x\" and not",
        "\u{0}",
        "a eq \"\u{0}\"",
        "a[b pr].",
        "a[b pr].c",
        "a[b pr].c eq",
        "urn:",
        "urn:a:",
        "$",
        "$ref pr",
        "a eq 0x10",
        "é",
        "a eq \"é",
        "a eq \"\\é\"",
    ];
    for s in inputs {
        let _ = parse(s, &FilterLimits::default());
    }
}
