//! Documentation a newcomer can walk (issue 16): README.md is the front
//! door and stays short, and every Markdown link in it and in `docs/*.md`
//! leads somewhere — a file that exists, and a heading that exists when the
//! link names one (`#anchor`, GitHub's slug rule). No server needed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The front door's budget: what it is, the two commands, connecting an
/// identity provider, and where everything else is.
const README_MAX_LINES: usize = 250;

/// A link found in a Markdown file: its 1-based line and its target.
struct Link {
    line: usize,
    target: String,
}

/// README.md and every `docs/*.md`, by path.
fn documents() -> BTreeMap<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![root.join("README.md")];
    let docs = fs::read_dir(root.join("docs")).expect("docs/ is readable");
    for entry in docs {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|ext| ext == "md") {
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let text =
                fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, text)
        })
        .collect()
}

/// The lines outside fenced code blocks (``` or ~~~), with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(marker)) => fence = Some(marker),
            (Some(open), Some(marker)) if open == marker => fence = None,
            (None, None) => lines.push((index + 1, line)),
            _ => {}
        }
    }
    lines
}

/// Where the inline code span starting at `start` (a run of backticks)
/// ends, just past its closing run; `None` if it is never closed.
fn code_span_end(chars: &[char], start: usize) -> Option<usize> {
    let run = chars[start..].iter().take_while(|&&c| c == '`').count();
    let mut i = start + run;
    while i < chars.len() {
        if chars[i] == '`' {
            let close = chars[i..].iter().take_while(|&&c| c == '`').count();
            if close == run {
                return Some(i + close);
            }
            i += close;
        } else {
            i += 1;
        }
    }
    None
}

/// Every inline link `[text](target)` of one line (images too), skipping
/// code spans outside link texts. The target is what precedes any title.
fn links_in_line(line: &str) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let mut targets = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '`' => i = code_span_end(&chars, i).unwrap_or(i + 1),
            '[' => {
                // The matching `]`, allowing nested brackets and code spans.
                let mut depth = 0;
                let mut j = i;
                let mut close = None;
                while j < chars.len() {
                    match chars[j] {
                        '`' => {
                            j = code_span_end(&chars, j).unwrap_or(j + 1);
                            continue;
                        }
                        '[' => depth += 1,
                        ']' => {
                            depth -= 1;
                            if depth == 0 {
                                close = Some(j);
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let Some(close) = close else {
                    i += 1;
                    continue;
                };
                if chars.get(close + 1) != Some(&'(') {
                    i += 1;
                    continue;
                }
                let Some(length) = chars[close + 2..].iter().position(|&c| c == ')') else {
                    i += 1;
                    continue;
                };
                let inside: String = chars[close + 2..close + 2 + length].iter().collect();
                let target = inside.split_whitespace().next().unwrap_or_default();
                targets.push(target.to_string());
                i = close + 3 + length;
            }
            _ => i += 1,
        }
    }
    targets
}

fn links(text: &str) -> Vec<Link> {
    prose_lines(text)
        .into_iter()
        .flat_map(|(line, content)| {
            links_in_line(content)
                .into_iter()
                .map(move |target| Link { line, target })
        })
        .collect()
}

/// GitHub's anchor for a heading: lower-case; characters other than
/// letters, digits, spaces, `-` and `_` removed; spaces become `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a file's headings (ATX `#` headings outside code), with
/// GitHub's `-1`, `-2`, ... suffixes for repeated ones.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let count = seen.entry(base.clone()).or_default();
        let anchor = if *count == 0 {
            base
        } else {
            format!("{base}-{count}")
        };
        *count += 1;
        anchors.insert(anchor);
    }
    anchors
}

fn is_external(target: &str) -> bool {
    ["http://", "https://", "mailto:"]
        .iter()
        .any(|scheme| target.starts_with(scheme))
}

/// What is wrong with one link of `file`, if anything.
fn broken(file: &Path, target: &str) -> Option<String> {
    let (path, anchor) = match target.split_once('#') {
        Some((path, anchor)) => (path, Some(anchor)),
        None => (target, None),
    };
    if path.is_empty() && anchor.is_none() {
        return Some("empty target".into());
    }
    let resolved = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().expect("a document has a folder").join(path)
    };
    if !resolved.exists() {
        return Some(format!("no such file: {}", resolved.display()));
    }
    let anchor = anchor?;
    if resolved.extension().is_none_or(|ext| ext != "md") {
        return None;
    }
    let text = match fs::read_to_string(&resolved) {
        Ok(text) => text,
        Err(e) => return Some(format!("{}: {e}", resolved.display())),
    };
    if anchors(&text).contains(anchor) {
        None
    } else {
        Some(format!("no heading #{anchor} in {}", resolved.display()))
    }
}

/// The slug rule and the extraction, on known cases: a test that finds no
/// problem must not be one that cannot see any.
fn check_the_checker() {
    assert_eq!(slug("Two commands"), "two-commands");
    assert_eq!(
        slug("The bridge: what the internal IAM owns"),
        "the-bridge-what-the-internal-iam-owns"
    );
    assert_eq!(slug("Layout of `src/`"), "layout-of-src");
    assert_eq!(
        slug("Users, PostgreSQL 15, 1,000,000 users"),
        "users-postgresql-15-1000000-users"
    );
    assert_eq!(
        slug("The admin console's Users page"),
        "the-admin-consoles-users-page"
    );
    assert_eq!(slug("Snake_case and-dashes"), "snake_case-and-dashes");
    let repeated = anchors("# A\n## Tests\n```\n## Not a heading\n```\n### Tests\n");
    let expected: BTreeSet<String> = ["a", "tests", "tests-1"].map(String::from).into();
    assert_eq!(repeated, expected);
    assert_eq!(
        links_in_line("see [`x.toml`](../x.toml#top), `a[b](c)`, [y](https://e.org) and [z]"),
        ["../x.toml#top", "https://e.org"]
    );
}

#[test]
fn readme_and_docs_links_resolve() {
    check_the_checker();
    let documents = documents();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = root.join("README.md");
    let readme_lines = documents[&readme].lines().count();
    assert!(
        readme_lines <= README_MAX_LINES,
        "README.md has {readme_lines} lines; the front door keeps to {README_MAX_LINES}: move detail into docs/"
    );

    let mut checked = 0;
    let mut problems = Vec::new();
    let mut linked_from_readme = BTreeSet::new();
    for (file, text) in &documents {
        let name = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for link in links(text) {
            if is_external(&link.target) {
                continue;
            }
            checked += 1;
            if *file == readme {
                linked_from_readme.insert(
                    link.target
                        .split('#')
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            if let Some(problem) = broken(file, &link.target) {
                problems.push(format!("{name}:{}: ({}) {problem}", link.line, link.target));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
    assert!(
        checked >= 10,
        "only {checked} links found: is the extraction working?"
    );

    // The front door lists every page behind it.
    for file in documents.keys().filter(|f| **f != readme) {
        let relative = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        assert!(
            linked_from_readme.contains(&relative),
            "README.md does not link to {relative}"
        );
    }
}
