//! Export and import of the whole directory as JSON lines (`lines` says
//! the format). Both stream: export writes each page as the store reads it
//! (keyset pages from one snapshot); import reads a batch of lines at a
//! time and writes it in one transaction. A batch with a bad line writes
//! nothing: every bad line of it is reported by number and the import
//! stops there; the batches before it stay imported, and importing the
//! fixed file again skips them as unchanged.

pub mod lines;
mod parse;

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};

use futures_util::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::{Directory, Error, Result, changes};
use crate::audit::{Actor, Entry};
use crate::store::transfer::{ExportRecord, ImportItem, MembershipRecord, Outcome};
use parse::{Kind, Names};

/// A line longer than this is refused rather than read into memory.
pub const MAX_LINE_BYTES: u64 = 16 * 1024 * 1024;

/// Rows read per export page.
const EXPORT_PAGE: u64 = 1000;

/// Per record type: what an import did, or how many records an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub unchanged: u64,
    pub updated: u64,
    pub failed: u64,
}

/// A refused line: its number (1-based) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub reason: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// By record type (Iam, Permission, Tag, Policy, User, Group,
    /// Membership, DataSource, Subscription).
    pub counts: BTreeMap<&'static str, Counts>,
    pub lines: u64,
    /// Empty when the whole input was imported.
    pub errors: Vec<LineError>,
    /// When the import stopped at a bad batch: its first and last line,
    /// none of which were written.
    pub stopped: Option<(u64, u64)>,
}

impl ImportReport {
    pub fn changed(&self) -> bool {
        self.counts.values().any(|c| c.created + c.updated > 0)
    }
}

/// Progress callbacks: bytes read (import) or records written (export).
pub trait Progress {
    fn advance(&mut self, n: u64);
}

impl<F: FnMut(u64)> Progress for F {
    fn advance(&mut self, n: u64) {
        self(n)
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("I/O: {e}"))
}

fn write_line(out: &mut dyn Write, v: &Value) -> Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(|e| Error::Internal(e.to_string()))?;
    out.write_all(b"\n").map_err(io)
}

/// One batch of parsed lines: the items, the line each came from, and the
/// type each counts under.
#[derive(Default)]
struct Batch {
    items: Vec<ImportItem>,
    origin: Vec<(u64, Kind)>,
    first_line: u64,
    errors: Vec<LineError>,
    lines: u64,
}

impl Directory {
    /// Writes every record as JSON lines to `out`; returns the number of
    /// records per type.
    pub async fn export_lines(
        &self,
        out: &mut dyn Write,
        progress: &mut dyn Progress,
    ) -> Result<BTreeMap<&'static str, u64>> {
        let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
        let mut iam_names: std::collections::HashMap<Uuid, String> = Default::default();
        write_line(out, &lines::format_line())?;
        let mut pages = self.store.export(EXPORT_PAGE);
        while let Some(page) = pages.next().await {
            let page = page?;
            let mut members: Vec<MembershipRecord> = Vec::new();
            let mut n = 0;
            for record in page {
                let line = match record {
                    ExportRecord::Iam(r) => {
                        iam_names.insert(r.id, r.name.clone());
                        ("Iam", lines::iam_line(&r))
                    }
                    ExportRecord::Permission(p) => ("Permission", lines::permission_line(&p)),
                    ExportRecord::User(r) => {
                        let name = |id: Uuid| iam_names.get(&id).cloned();
                        ("User", lines::user_line(&r, &name))
                    }
                    ExportRecord::Group(r) => {
                        let iam = iam_names.get(&r.iam).cloned();
                        ("Group", lines::group_line(&r, iam))
                    }
                    ExportRecord::Membership(m) => {
                        let flush = members.first().is_some_and(|f| f.group != m.group)
                            || members.len() == lines::MEMBERS_PER_LINE;
                        if flush {
                            write_line(out, &lines::members_line(members[0].group, &members))?;
                            members.clear();
                        }
                        members.push(m);
                        *counts.entry("Membership").or_default() += 1;
                        n += 1;
                        continue;
                    }
                    ExportRecord::Subscription(s) => ("Subscription", lines::subscription_line(&s)),
                    ExportRecord::Tag(t) => ("Tag", lines::tag_line(&t)),
                    ExportRecord::Policy(p) => ("Policy", lines::policy_line(&p)),
                    ExportRecord::DataSource(s) => ("DataSource", lines::data_source_line(&s)),
                };
                write_line(out, &line.1)?;
                *counts.entry(line.0).or_default() += 1;
                n += 1;
            }
            if let Some(first) = members.first() {
                write_line(out, &lines::members_line(first.group, &members))?;
            }
            progress.advance(n);
        }
        out.flush().map_err(io)?;
        Ok(counts)
    }

    /// Imports JSON lines from `input` in batches of `batch_size` lines,
    /// each batch one transaction (all of it or none of it).
    pub async fn import_lines(
        &self,
        input: &mut dyn BufRead,
        batch_size: usize,
        progress: &mut dyn Progress,
    ) -> Result<ImportReport> {
        let mut names = Names::default();
        for iam in self.store.list_iams().await? {
            names.iams.insert(iam.name, iam.id);
        }
        for p in self.store.permission_catalogue().await? {
            names.permissions.insert(p.name);
        }
        let mut report = ImportReport::default();
        let mut line_no = 0u64;
        let mut buf = String::new();
        let audit = Entry::new(Actor::Cli, "");
        loop {
            let mut batch = Batch {
                first_line: line_no + 1,
                ..Batch::default()
            };
            let mut eof = false;
            while batch.lines < batch_size as u64 {
                buf.clear();
                let read = Read::take(&mut *input, MAX_LINE_BYTES + 1).read_line(&mut buf);
                let n = match read {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        line_no += 1;
                        batch.lines += 1;
                        batch.errors.push(LineError {
                            line: line_no,
                            reason: "not UTF-8".into(),
                        });
                        eof = true;
                        break;
                    }
                    Err(e) => return Err(io(e)),
                };
                if n == 0 {
                    eof = true;
                    break;
                }
                progress.advance(n as u64);
                line_no += 1;
                batch.lines += 1;
                if n as u64 > MAX_LINE_BYTES {
                    batch.errors.push(LineError {
                        line: line_no,
                        reason: format!("longer than {MAX_LINE_BYTES} bytes"),
                    });
                    eof = true;
                    break;
                }
                let text = buf.trim();
                if text.is_empty() {
                    continue;
                }
                match self.parse_line(text, &mut names).await {
                    Ok((kind, items)) => {
                        for item in items {
                            batch.items.push(item);
                            batch.origin.push((line_no, kind));
                        }
                    }
                    Err(reason) => {
                        *report.counts.entry(parse::kind_of(text)).or_default() = {
                            let mut c = report
                                .counts
                                .get(parse::kind_of(text))
                                .copied()
                                .unwrap_or_default();
                            c.failed += 1;
                            c
                        };
                        batch.errors.push(LineError {
                            line: line_no,
                            reason,
                        })
                    }
                }
            }
            report.lines = line_no;
            if batch.lines == 0 {
                break;
            }
            if !batch.errors.is_empty() {
                report.stopped = Some((batch.first_line, line_no));
                report.errors = batch.errors;
                break;
            }
            let records = |o: &[Outcome]| changes::imports(&audit, &batch.items, o);
            match self
                .store
                .import(&batch.items, &records, self.now())
                .await?
            {
                Ok(outcomes) => {
                    for ((_, kind), outcome) in batch.origin.iter().zip(outcomes) {
                        let c = report.counts.entry(kind).or_default();
                        match outcome {
                            Outcome::Created => c.created += 1,
                            Outcome::Unchanged => c.unchanged += 1,
                            Outcome::Updated => c.updated += 1,
                        }
                    }
                }
                Err(failed) => {
                    let (line, kind) = batch.origin[failed.index];
                    report.counts.entry(kind).or_default().failed += 1;
                    report.errors.push(LineError {
                        line,
                        reason: failed.reason,
                    });
                    report.stopped = Some((batch.first_line, line_no));
                    break;
                }
            }
            if eof {
                break;
            }
        }
        Ok(report)
    }
}
