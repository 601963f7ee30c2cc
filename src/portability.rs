//! The command line's backup, restore, export and import: files, stdin and
//! stdout, the progress bar (on a terminal only) and the summaries. The
//! work itself is the store's (copies, placement) and the directory's
//! (records as JSON lines).

use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Config;
use crate::directory::Directory;
use crate::directory::transfer::ImportReport;
use crate::store::sqlite::backup;

const PG_DUMP_HINT: &str = "backup and restore copy SQLite databases; for PostgreSQL use \
     pg_dump and pg_restore (docs/BACKUPS.md), or `scim-bridge export` / `import`";

fn is_sqlite(config: &Config) -> bool {
    config.database_url.starts_with("sqlite:")
}

/// Taken by `serve` for the rest of the process, so that `restore` refuses
/// to replace the file under it (SQLite only); whether it holds.
pub fn serve_lock(database_url: &str) -> bool {
    database_url.starts_with("sqlite:") && backup::hold_serve_lock(database_url)
}

/// A progress bar on stderr when it is a terminal, hidden otherwise.
fn bar(total: Option<u64>, unit: &str) -> ProgressBar {
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
        return bar;
    }
    let template = match (total, unit) {
        (Some(_), "bytes") => {
            "{spinner} [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta} left)"
        }
        (None, "bytes") => "{spinner} [{elapsed_precise}] {bytes} ({bytes_per_sec})",
        _ => "{spinner} [{elapsed_precise}] {human_pos} records ({per_sec})",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `scim-bridge backup`: a consistent copy of the SQLite database while the
/// server keeps serving, checked, then moved into place.
pub async fn backup(config: &Config, output: &Path, force: bool) -> Result<(), String> {
    if !is_sqlite(config) {
        return Err(PG_DUMP_HINT.into());
    }
    if output.exists() && !force {
        return Err(format!(
            "{} exists; choose another file or pass --force to replace it",
            output.display()
        ));
    }
    let dir = crate::open_directory(config)
        .await
        .map_err(|e| e.to_string())?;
    let staged = backup::sibling(output, "backup");
    let done = async {
        dir.store
            .backup_into(&staged)
            .await
            .map_err(|e| format!("copy failed: {e}"))?;
        let check = backup::check_file(&staged, true)
            .await
            .map_err(|e| format!("the copy failed its check: {e}"))?;
        if force {
            std::fs::rename(&staged, output).map_err(|e| e.to_string())?;
        } else {
            // A link fails if the name was taken meanwhile: never overwrite.
            std::fs::hard_link(&staged, output)
                .map_err(|e| format!("{}: {e}", output.display()))?;
            std::fs::remove_file(&staged).map_err(|e| e.to_string())?;
        }
        backup::sync_dir(
            output
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
        )
        .map_err(|e| e.to_string())?;
        Ok::<_, String>(check)
    }
    .await;
    let check = match done {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    eprintln!(
        "backup written to {}: {} users, {} groups, integrity check ok",
        output.display(),
        check.users,
        check.groups
    );
    Ok(())
}

/// `scim-bridge restore`: checks the file, refuses while a server uses the
/// target, places the file atomically and applies migrations.
pub async fn restore(config: &Config, input: &Path) -> Result<(), String> {
    if !is_sqlite(config) {
        return Err(PG_DUMP_HINT.into());
    }
    let target = backup::path_of(&config.database_url).map_err(|e| e.to_string())?;
    // Fail before copying anything when a server holds the target.
    drop(backup::lock_unserved(&target).map_err(|e| e.to_string())?);
    if !input.is_file() {
        return Err(format!("{}: no such file", input.display()));
    }
    let staged = backup::sibling(&target, "restore");
    let placed = async {
        std::fs::copy(input, &staged).map_err(|e| format!("{}: {e}", input.display()))?;
        let check = backup::check_file(&staged, true).await.map_err(|e| {
            format!(
                "{} is not a usable scim-bridge database: {e}",
                input.display()
            )
        })?;
        backup::place(&staged, &target).map_err(|e| e.to_string())?;
        Ok::<_, String>(check)
    }
    .await;
    let check = match placed {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e);
        }
    };
    crate::open_directory(config)
        .await
        .map_err(|e| format!("restored, but migrating failed: {e}"))?;
    eprintln!(
        "restored {} to {}: {} users, {} groups; migrations applied",
        input.display(),
        target.display(),
        check.users,
        check.groups
    );
    Ok(())
}

/// `scim-bridge export`: every record as JSON lines, to a file (written
/// beside it, then renamed: a failed export leaves no half file) or stdout.
pub async fn export(dir: &Directory, output: Option<&Path>, force: bool) -> Result<(), String> {
    let bar = bar(None, "records");
    let mut progress = |n: u64| bar.inc(n);
    let counts = match output {
        Some(path) => {
            if path.exists() && !force {
                return Err(format!(
                    "{} exists; choose another file or pass --force to replace it",
                    path.display()
                ));
            }
            let staged = backup::sibling(path, "export");
            let written = async {
                let file = std::fs::File::create(&staged).map_err(|e| e.to_string())?;
                let mut out = BufWriter::with_capacity(1 << 20, file);
                let counts = dir
                    .export_lines(&mut out, &mut progress)
                    .await
                    .map_err(|e| e.to_string())?;
                let file = out.into_inner().map_err(|e| e.to_string())?;
                file.sync_all().map_err(|e| e.to_string())?;
                std::fs::rename(&staged, path).map_err(|e| e.to_string())?;
                Ok::<_, String>(counts)
            }
            .await;
            if written.is_err() {
                let _ = std::fs::remove_file(&staged);
            }
            written?
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
            dir.export_lines(&mut out, &mut progress)
                .await
                .map_err(|e| e.to_string())?
        }
    };
    bar.finish_and_clear();
    let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{n} {k}")).collect();
    eprintln!(
        "exported {}",
        if parts.is_empty() {
            "nothing".to_owned()
        } else {
            parts.join(", ")
        }
    );
    Ok(())
}

/// `scim-bridge import`: JSON lines from a file or stdin, in batches of
/// `batch_size` lines; prints the summary; fails (exit 1) when a line was
/// refused.
pub async fn import(
    dir: &Directory,
    input: Option<&Path>,
    batch_size: usize,
) -> Result<(), String> {
    let batch_size = batch_size.max(1);
    let report = match input {
        Some(path) => {
            let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let size = file.metadata().map(|m| m.len()).ok();
            let bar = bar(size, "bytes");
            let mut progress = |n: u64| bar.inc(n);
            let mut reader = BufReader::with_capacity(1 << 20, file);
            let report = dir
                .import_lines(&mut reader, batch_size, &mut progress)
                .await
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            report
        }
        None => {
            let bar = bar(None, "bytes");
            let mut progress = |n: u64| bar.inc(n);
            let stdin = std::io::stdin();
            let mut reader: Box<dyn BufRead> = Box::new(stdin.lock());
            let report = dir
                .import_lines(&mut reader, batch_size, &mut progress)
                .await
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            report
        }
    };
    print_summary(&report, &mut std::io::stdout().lock()).map_err(|e| e.to_string())?;
    match report.stopped {
        None => Ok(()),
        Some((first, last)) => {
            for e in &report.errors {
                eprintln!("line {}: {}", e.line, e.reason);
            }
            let before = if first > 1 {
                format!("lines 1-{} were", first - 1)
            } else {
                "nothing was".to_owned()
            };
            Err(format!(
                "import stopped: lines {first}-{last} (the failing batch) were not imported; \
                 {before} imported. Fix the lines above and import the file again \
                 (what is already there is left unchanged)"
            ))
        }
    }
}

/// The summary table: per record type, created / unchanged / updated / failed.
pub fn print_summary(report: &ImportReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "read {} lines", report.lines)?;
    writeln!(
        out,
        "{:<14} {:>10} {:>10} {:>10} {:>8}",
        "type", "created", "unchanged", "updated", "failed"
    )?;
    for (kind, c) in &report.counts {
        writeln!(
            out,
            "{:<14} {:>10} {:>10} {:>10} {:>8}",
            kind, c.created, c.unchanged, c.updated, c.failed
        )?;
    }
    if report.stopped.is_none() && !report.changed() {
        writeln!(out, "nothing changed: every record was already there")?;
    }
    Ok(())
}
