use super::*;

/// Each error says where (column, and line when not the first) and what
/// was expected there.
#[test]
fn errors_name_the_position_and_what_was_expected() {
    for (src, (line, column), message) in [
        (
            "",
            (1, 1),
            "expected a function (@hasAttribute, @isInGroups, @hasTagAsAttribute, @hasTagAsGroup), NOT or '(', found end of input",
        ),
        ("   ", (1, 4), "found end of input"),
        ("@isInGroups('a') AND", (1, 21), "expected a function"),
        ("@isInGroups('a') AND OR", (1, 22), "found 'OR'"),
        (
            "@isInGroups('a') @isInGroups('b')",
            (1, 18),
            "expected AND, OR or end of input, found '@isInGroups'",
        ),
        (
            "@isInGroups('a') XOR @isInGroups('b')",
            (1, 18),
            "expected AND, OR or end of input, found 'XOR'",
        ),
        (
            "(@isInGroups('a')",
            (1, 18),
            "expected AND, OR or ')', found end of input",
        ),
        (
            "@isInGroups('a'))",
            (1, 17),
            "expected AND, OR or end of input, found ')'",
        ),
        (
            "@isInGroups('a', 'b'",
            (1, 21),
            "expected ',' or ')', found end of input",
        ),
        (
            "@isInGroups('a' 'b')",
            (1, 17),
            "expected ',' or ')', found a string",
        ),
        (
            "@isInGroups 'a'",
            (1, 13),
            "expected '(' after @isInGroups, found a string",
        ),
        (
            "@isInGroups(a)",
            (1, 13),
            "expected a string in single quotes, found 'a'",
        ),
        (
            "@isInGroups('a',)",
            (1, 17),
            "expected a string in single quotes, found ')'",
        ),
        (
            "@isInGroups()",
            (1, 1),
            "@isInGroups takes one or more group names, found 0",
        ),
        (
            "@hasAttribute('k')",
            (1, 1),
            "@hasAttribute takes 2 arguments: an attribute name and a value, found 1",
        ),
        (
            "@hasTagAsGroup()",
            (1, 1),
            "@hasTagAsGroup takes 1 argument: 'dataSource' or 'column', found 0",
        ),
        (
            "@hasTagAsAttribute('k', 'table')",
            (1, 25),
            "expected 'dataSource' or 'column', found 'table'",
        ),
        (
            "@hasTagsAsAttribute('k', 'column')",
            (1, 1),
            "unknown function @hasTagsAsAttribute",
        ),
        (
            "@isInGroups('')",
            (1, 13),
            "a group name is 1 to 256 printable characters",
        ),
        (
            "@hasAttribute(' ', 'v')",
            (1, 15),
            "an attribute name is 1 to 256",
        ),
        (
            "@isInGroups('a) AND @isInGroups('b')",
            (1, 34),
            "expected ',' or ')', found 'b'",
        ),
        ("@isInGroups('a", (1, 13), "unterminated string"),
        (
            "@isInGroups('a') && @isInGroups('b')",
            (1, 18),
            "unexpected character '&'",
        ),
        (
            "@ isInGroups('a')",
            (1, 1),
            "expected a function name after '@'",
        ),
        ("isInGroups('a')", (1, 1), "found 'isInGroups'"),
        (
            "@isInGroups('é') AND ü",
            (1, 22),
            "unexpected character 'ü'",
        ),
        (
            "@isInGroups('a')\nAND\n  @nope('b')",
            (3, 3),
            "unknown function @nope",
        ),
    ] {
        let e = err(src);
        assert_eq!((e.line, e.column), (line, column), "{src:?}: {e}");
        assert!(e.message.contains(message), "{src:?}: {e}");
        assert_eq!(e.kind, ErrorKind::Syntax, "{src:?}");
    }
    // Offsets are bytes, columns characters; Display gives the column.
    let e = err("@isInGroups('é') AND ü");
    assert_eq!(e.offset, 22);
    assert_eq!(e.to_string(), "at column 22: unexpected character 'ü'");
    assert!(
        err("@isInGroups('a')\n)")
            .to_string()
            .starts_with("at line 2, column 1: ")
    );
}

fn terms(n: usize) -> String {
    vec!["@isInGroups('g')"; n].join(" AND ")
}

#[test]
fn ten_thousand_terms_are_refused_not_overflowed() {
    let e = err(&terms(10_000));
    assert_eq!(e.kind, ErrorKind::TooLong);
    assert!(
        e.message
            .starts_with("the expression is longer than 8192 bytes"),
        "{e}"
    );
    // Without the length limit the term limit refuses it, at the first
    // term past it.
    let roomy = Limits {
        max_length: usize::MAX,
        ..Limits::DEFAULT
    };
    let e = parse(&terms(10_000), &roomy).unwrap_err();
    assert_eq!(e.kind, ErrorKind::TooManyTerms);
    assert_eq!(e.offset, 256 * "@isInGroups('g') AND ".len());
    assert_eq!(e.message, "the expression has more than 256 function calls");
    assert!(parse(&terms(256), &roomy).is_ok());
    let mixed = vec!["@isInGroups('g')"; 10_000].join(" OR NOT ");
    assert_eq!(
        parse(&mixed, &roomy).unwrap_err().kind,
        ErrorKind::TooManyTerms
    );
}

#[test]
fn nesting_is_bounded_without_recursing_past_the_limit() {
    let roomy = Limits {
        max_length: usize::MAX,
        ..Limits::DEFAULT
    };
    let deep = |n: usize| format!("{}@isInGroups('g'){}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&deep(32), &roomy).is_ok());
    let e = parse(&deep(100_000), &roomy).unwrap_err();
    assert_eq!((e.kind, e.column), (ErrorKind::TooDeep, 33));
    assert!(e.message.contains("deeper than 32 levels"), "{e}");
    let nots = |n: usize| format!("{}@isInGroups('g')", "NOT ".repeat(n));
    assert!(parse(&nots(32), &roomy).is_ok());
    assert_eq!(
        parse(&nots(100_000), &roomy).unwrap_err().kind,
        ErrorKind::TooDeep
    );
    // Both count: 16 of each is 32 levels.
    let both = format!("{}@isInGroups('g'){}", "NOT (".repeat(16), ")".repeat(16));
    assert!(parse(&both, &roomy).is_ok());
    let over = format!("{}@isInGroups('g'){}", "NOT (".repeat(17), ")".repeat(17));
    assert_eq!(parse(&over, &roomy).unwrap_err().kind, ErrorKind::TooDeep);
}
