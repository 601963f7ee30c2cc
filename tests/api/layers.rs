//! Which layer decides what (issue 16): the domain decides every audit
//! record (`directory::changes` and its callers); storage appends what it
//! is given and finds what a write changed, never naming an action. This
//! reads the storage sources, so a record built there again fails here.

use std::fs;
use std::path::{Path, PathBuf};

/// The nouns audit actions start with (`user.created`, `iam.imported`).
const NOUNS: &[&str] = &[
    "user",
    "group",
    "iam",
    "token",
    "permission",
    "attribute",
    "subscription",
    "account",
    "membership",
    "data_source",
];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    out
}

/// What on `line` builds or names an audit action, if anything.
fn action_in(line: &str) -> Option<String> {
    let code = line.trim_start();
    if code.starts_with("//") {
        return None;
    }
    if code.contains(".action =") || code.contains("Entry::new(") {
        return Some(code.to_owned());
    }
    NOUNS
        .iter()
        .map(|noun| format!("\"{noun}."))
        .find(|literal| code.contains(literal.as_str()))
}

#[test]
fn storage_names_no_audit_action() {
    let store = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
    let files = sources(&store);
    assert!(files.len() > 10, "read the storage sources: {files:?}");
    let mut found = Vec::new();
    for path in files {
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for (index, line) in text.lines().enumerate() {
            if let Some(what) = action_in(line) {
                found.push(format!("{}:{}: {what}", path.display(), index + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "audit records are the domain's to build (src/directory/changes.rs); \
         storage appends them as given:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_an_action() {
    assert!(action_in(r#"    e.action = "user.imported";"#).is_some());
    assert!(action_in(r#"    grant_entry(entry, user, "permission.removed", p)"#).is_some());
    assert!(action_in(r#"    let e = Entry::new(Actor::Cli, "x");"#).is_some());
    assert!(action_in(r#"    query("SELECT users.id FROM users")"#).is_none());
    assert!(action_in(r#"    // records `user.created`"#).is_none());
}
