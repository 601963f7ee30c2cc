//! The leak check's scan (issue 8, point 6). `cargo test` with
//! `SCIM_BRIDGE_LEAK_DIR` set leaves there every server's logs, audit
//! log, `/metrics` text and usage export, and every token, password,
//! userName, email, session cookie and CSRF token the suite sent
//! (`secrets-*.jsonl`, see tests/api/leak). With `SCIM_BRIDGE_LEAK_SCAN`
//! naming that directory, `scan_the_suite` looks for each value in every
//! line of every file and fails naming the file, line and kind of each
//! one found (a short prefix, never the value). .ci/run does both.

use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::Path;

use aho_corasick::AhoCorasick;

/// Values this short match by chance (and say little about a person).
const MIN_CHARS: usize = 6;

/// Values that are words of the protocol, not anyone's secret.
const GENERIC: &[&str] = &[
    "true",
    "false",
    "null",
    "password",
    "username",
    "undefined",
    "example.com",
];

struct Secret {
    kinds: BTreeSet<String>,
    test: String,
    /// Sent by a test's SQLite or PostgreSQL variant (by its name).
    databases: BTreeSet<&'static str>,
}

#[derive(Debug)]
struct Finding {
    file: String,
    line: usize,
    kinds: String,
    prefix: String,
    chars: usize,
    test: String,
}

#[derive(Default)]
struct Report {
    /// Where the planted canary was found (expected, not a leak).
    canaries: usize,
    secrets: BTreeMap<String, usize>,
    databases: BTreeMap<&'static str, usize>,
    /// Files of a test's SQLite or PostgreSQL variant (by its name).
    file_databases: BTreeMap<&'static str, usize>,
    skipped_short: usize,
    skipped_generic: usize,
    files: BTreeMap<&'static str, usize>,
    lines: usize,
    findings: Vec<Finding>,
}

impl Report {
    fn summary(&self) -> String {
        let total: usize = self.secrets.values().sum();
        format!(
            "leak scan: {total} values looked for ({}; sent by {} test variants); skipped {} shorter than {MIN_CHARS} \
             characters and {} generic words; {} files ({}; of {} test variants), {} lines; the planted canary \
             found {} time(s); {} found",
            list(&self.secrets),
            list(&self.databases),
            self.skipped_short,
            self.skipped_generic,
            self.files.values().sum::<usize>(),
            list(&self.files),
            list(&self.file_databases),
            self.lines,
            self.canaries,
            self.findings.len(),
        )
    }
}

fn list<K: std::fmt::Display>(m: &BTreeMap<K, usize>) -> String {
    m.iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What kind of record a file of the leak directory holds.
fn category(name: &str) -> Option<&'static str> {
    let kind = name.split('-').next()?;
    Some(match kind {
        "log" => "logs",
        "audit" => "audit logs",
        "metrics" => "metrics",
        "usage" => "usage exports",
        "secrets" => return None,
        _ => "other",
    })
}

/// How a value can appear in a line: as sent, JSON-escaped (once, or
/// twice for a Debug-formatted field inside a JSON log line), and
/// percent-encoded (a query string in a logged URI).
fn forms(value: &str) -> BTreeSet<String> {
    let json = |s: &str| {
        let q = serde_json::to_string(s).unwrap();
        q[1..q.len() - 1].to_owned()
    };
    let percent = value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect::<String>();
    let mut out: BTreeSet<String> = [
        value.to_owned(),
        value.to_lowercase(),
        json(value),
        json(&json(value)),
        percent,
    ]
    .into();
    out.retain(|f| !f.is_empty());
    out
}

fn scan(dir: &Path) -> Report {
    let mut report = Report::default();
    let mut secrets: BTreeMap<String, Secret> = BTreeMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("the leak directory") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match category(&name) {
            None => {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    let value = v["value"].as_str().unwrap().to_owned();
                    let test = v["test"].as_str().unwrap_or("");
                    let s = secrets.entry(value).or_insert_with(|| Secret {
                        kinds: BTreeSet::new(),
                        test: test.to_owned(),
                        databases: BTreeSet::new(),
                    });
                    s.kinds.insert(v["kind"].as_str().unwrap().to_owned());
                    for db in ["sqlite", "postgres"] {
                        if test.ends_with(db) {
                            s.databases.insert(db);
                        }
                    }
                }
            }
            Some(c) => {
                *report.files.entry(c).or_default() += 1;
                for db in ["sqlite", "postgres"] {
                    if name.contains(&format!(".{db}.")) {
                        *report.file_databases.entry(db).or_default() += 1;
                    }
                }
                files.push((name, path));
            }
        }
    }
    files.sort();
    let mut kept = Vec::new();
    let mut patterns = Vec::new();
    for (value, secret) in &secrets {
        if GENERIC.iter().any(|g| g.eq_ignore_ascii_case(value)) {
            report.skipped_generic += 1;
        } else if value.chars().count() < MIN_CHARS {
            report.skipped_short += 1;
        } else {
            for kind in &secret.kinds {
                *report.secrets.entry(kind.clone()).or_default() += 1;
            }
            for db in &secret.databases {
                *report.databases.entry(db).or_default() += 1;
            }
            for f in forms(value) {
                patterns.push(f);
                kept.push(value);
            }
        }
    }
    let matcher = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(&patterns)
        .expect("patterns");
    for (name, path) in &files {
        let reader = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        for (n, line) in reader.split(b'\n').enumerate() {
            let line = line.unwrap();
            report.lines += 1;
            let mut seen = BTreeSet::new();
            for m in matcher.find_overlapping_iter(&line) {
                let value = kept[m.pattern().as_usize()];
                if !whole(&line, m.start(), m.end()) || !seen.insert(value) {
                    continue;
                }
                let secret = &secrets[value];
                if secret.kinds.contains("canary") {
                    report.canaries += 1;
                    continue;
                }
                report.findings.push(Finding {
                    file: name.clone(),
                    line: n + 1,
                    kinds: secret.kinds.iter().cloned().collect::<Vec<_>>().join("/"),
                    prefix: value.chars().take(4).collect(),
                    chars: value.chars().count(),
                    test: secret.test.clone(),
                });
            }
        }
    }
    report
}

/// The match is a whole value, not part of a longer word: a userName
/// "second" is no leak in `..._seconds_bucket`. A `%XX` or `\x` escape
/// just before it counts as a boundary (percent- and JSON-encoding).
fn whole(line: &[u8], start: usize, end: usize) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric();
    let before = start == 0
        || !word(line[start - 1])
        || (start >= 3 && line[start - 3] == b'%')
        || (start >= 2 && line[start - 2] == b'\\');
    let after = end == line.len() || !word(line[end]);
    before && after
}

fn describe(f: &Finding) -> String {
    format!(
        "{}:{}: a {} ({:?}…, {} characters, sent by {})",
        f.file, f.line, f.kinds, f.prefix, f.chars, f.test
    )
}

/// The findings, one paragraph per value (its first few places): one leak
/// repeats on every line that logs it.
fn by_secret(findings: &[Finding]) -> String {
    let mut groups: BTreeMap<(&str, &str, usize), Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        groups
            .entry((&f.kinds, &f.prefix, f.chars))
            .or_default()
            .push(f);
    }
    let mut out = Vec::new();
    for (_, fs) in groups.iter().take(60) {
        out.push(format!("{} line(s), first:", fs.len()));
        out.extend(fs.iter().take(3).map(|f| format!("  {}", describe(f))));
    }
    if groups.len() > 60 {
        out.push(format!("... and {} more values", groups.len() - 60));
    }
    out.join("\n")
}

#[test]
fn scan_the_suite() {
    let Some(dir) = std::env::var_os("SCIM_BRIDGE_LEAK_SCAN") else {
        eprintln!("SCIM_BRIDGE_LEAK_SCAN is not set: nothing to scan (.ci/run sets it)");
        return;
    };
    let report = scan(Path::new(&dir));
    println!("{}", report.summary());
    assert!(
        report.secrets.values().sum::<usize>() > 0 && !report.files.is_empty(),
        "the leak directory holds no traffic: was the suite run with SCIM_BRIDGE_LEAK_DIR?"
    );
    assert!(
        report.canaries > 0,
        "the canary every test process logs was not found: the scan is not reading the logs"
    );
    assert!(
        report.findings.is_empty(),
        "{} line(s) of logs, audit, metrics or usage hold a secret the suite sent:\n{}",
        report.findings.len(),
        by_secret(&report.findings)
    );
}

/// The scan can fail: a planted password (JSON-escaped in a log line), a
/// planted email (percent-encoded, in other letter case, in an audit
/// record) and a token in a metric are each found at their line, named by
/// kind and prefix only.
#[test]
fn the_scan_finds_planted_values() {
    let dir = tempfile::tempdir().unwrap();
    let secrets = [
        ("password", "Pl4nted\"Pass-word"),
        ("email", "planted.person@example.org"),
        ("token", "tok_PLANTEDPLANTEDPLANTED"),
        ("userName", "bob"),
        ("password", "Password"),
        ("userName", "second"),
        ("canary", "leak-check-canary-x"),
    ];
    let lines: Vec<String> = secrets
        .iter()
        .map(|(k, v)| serde_json::json!({"kind": k, "value": v, "test": "planted"}).to_string())
        .collect();
    std::fs::write(dir.path().join("secrets-1.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(
        dir.path().join("log-inprocess-1.jsonl"),
        "{\"fields\":{\"message\":\"started\"}}\n\
         {\"fields\":{\"message\":\"body {\\\"password\\\":\\\"Pl4nted\\\"Pass-word\\\"}\"}}\n\
         {\"fields\":{\"message\":\"bob said Password\"}}\n\
         {\"fields\":{\"message\":\"the canary: leak-check-canary-x\"}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("audit-1-00001-planted.jsonl"),
        "{\"action\":\"user.created\"}\n{\"note\":\"/Users?filter=emails%20eq%20%22PLANTED.person%40example.org%22\"}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("metrics-1-00002-planted.prom"),
        "# TYPE x counter\nx{route=\"/a\",t=\"tok_PLANTEDPLANTEDPLANTED\"} 1\n\
         http_request_duration_seconds_bucket{le=\"0.1\"} 3\n",
    )
    .unwrap();

    let report = scan(dir.path());
    let found: Vec<String> = report.findings.iter().map(describe).collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(
        found[0].starts_with("audit-1-00001-planted.jsonl:2: a email (\"plan\"…"),
        "{found:#?}"
    );
    assert!(
        found[1].starts_with("log-inprocess-1.jsonl:2: a password (\"Pl4n\"…"),
        "{found:#?}"
    );
    assert!(
        found[2].starts_with("metrics-1-00002-planted.prom:2: a token (\"tok_\"…"),
        "{found:#?}"
    );
    for f in &found {
        for (_, v) in &secrets[..3] {
            assert!(!f.contains(v), "the whole secret is printed: {f}");
        }
    }
    // "bob" is too short and "Password" too generic to mean anything; the
    // scan says it skipped them.
    assert_eq!((report.skipped_short, report.skipped_generic), (1, 1));
    // A userName that is a word inside a metric's name is not a leak; the
    // canary is found and counted apart.
    assert_eq!(report.canaries, 1);
    let summary = report.summary();
    assert!(summary.contains("skipped 1 shorter than 6"), "{summary}");
    assert!(summary.contains("3 found"), "{summary}");
}
