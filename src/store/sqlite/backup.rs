//! SQLite database files as a whole: checking a copy (integrity, the
//! migrations table), placing a restored file atomically, and the lock a
//! serving process holds so that `restore` can tell the file is in use.
//! Never opens the live database for writing.

use std::fs::File;
use std::path::{Path, PathBuf};

use sqlx::{ConnectOptions, Connection};

use super::*;

/// What a checked database file holds.
#[derive(Debug, Clone)]
pub struct FileCheck {
    pub users: i64,
    pub groups: i64,
    /// The migrations applied to it, by version.
    pub migrations: Vec<i64>,
}

/// The file a `sqlite://` URL names.
pub fn path_of(url: &str) -> Result<PathBuf> {
    let opts = SqliteConnectOptions::from_str(url)?;
    Ok(opts.get_filename().to_path_buf())
}

/// Checks that `path` is a scim-bridge SQLite database this binary can
/// serve: `PRAGMA integrity_check` says ok, the migrations table is there
/// with every migration applied successfully and none unknown to this
/// binary (a newer one's file). With `writable`, first turns the file into
/// a self-contained rollback-journal database (what a fresh copy should be).
pub async fn check_file(path: &Path, writable: bool) -> Result<FileCheck> {
    if !path.is_file() {
        return Err(StoreError::Config(format!(
            "{} is not a file",
            path.display()
        )));
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        .read_only(!writable)
        .connect()
        .await
        .map_err(|e| {
            StoreError::Config(format!("{}: not a SQLite database ({e})", path.display()))
        })?;
    if writable {
        sqlx::query("PRAGMA journal_mode = DELETE")
            .execute(&mut conn)
            .await?;
        rebuild_search(&mut conn).await?;
    }
    let integrity: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .map_err(|e| {
            StoreError::Config(format!("{}: not a SQLite database ({e})", path.display()))
        })?;
    if integrity != ["ok"] {
        return Err(StoreError::Config(format!(
            "{}: integrity check failed: {}",
            path.display(),
            integrity.join("; ")
        )));
    }
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .map_err(|_| {
                StoreError::Config(format!(
                    "{}: not a scim-bridge database (no migrations table)",
                    path.display()
                ))
            })?;
    let known: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    if let Some((v, _)) = applied.iter().find(|(_, ok)| !ok) {
        return Err(StoreError::Config(format!(
            "{}: migration {v} did not complete",
            path.display()
        )));
    }
    if let Some((v, _)) = applied.iter().find(|(v, _)| !known.contains(v)) {
        return Err(StoreError::Config(format!(
            "{}: migration {v} is unknown to this scim-bridge (the file comes from a newer version)",
            path.display()
        )));
    }
    let counts: std::result::Result<(i64, i64), sqlx::Error> =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM groups)")
            .fetch_one(&mut conn)
            .await;
    let (users, groups) = counts.map_err(|_| {
        StoreError::Config(format!(
            "{}: not a scim-bridge database (no users or groups table)",
            path.display()
        ))
    })?;
    conn.close().await?;
    if writable {
        File::open(path)
            .and_then(|f| f.sync_all())
            .map_err(io_error)?;
    }
    Ok(FileCheck {
        users,
        groups,
        migrations: applied.into_iter().map(|(v, _)| v).collect(),
    })
}

pub(crate) fn io_error(e: std::io::Error) -> StoreError {
    StoreError::Config(e.to_string())
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error)
}

/// Held by `serve` for as long as it runs: a shared advisory lock (flock)
/// on the database file. SQLite locks with fcntl, which flock does not
/// touch, so this never blocks the database itself; `restore` takes it
/// exclusively to see that no server uses the file. The descriptor is
/// never closed (the lock ends with the process): closing any descriptor
/// of the file would drop the fcntl locks SQLite holds in this process.
pub fn hold_serve_lock(url: &str) -> bool {
    let Ok(path) = path_of(url) else {
        return false;
    };
    let Ok(file) = File::open(path) else {
        return false;
    };
    if file.try_lock_shared().is_err() {
        return false;
    }
    std::mem::forget(file);
    true
}

/// A fresh file name next to `target` (same directory, so that a rename
/// onto `target` is atomic), hidden, with `what` in it.
pub fn sibling(target: &Path, what: &str) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scim-bridge.db".into());
    dir_of(target).join(format!(".{name}.{what}-{}", Uuid::new_v4()))
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Takes the exclusive lock on `target` (None when there is no such file
/// yet); refuses while a `serve` holds its shared one.
pub fn lock_unserved(target: &Path) -> Result<Option<File>> {
    match File::open(target) {
        Ok(f) => match f.try_lock() {
            Ok(()) => Ok(Some(f)),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Config(format!(
                "{} is in use by a running `scim-bridge serve`: stop the server, then restore",
                target.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(io_error(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

/// Moves `staged` (a checked database file next to `target`) over
/// `target` atomically: the target's stale `-wal`/`-shm` removed first (a
/// WAL left from the old file must never be replayed onto the new one),
/// then the rename, then the directory synced. Refuses while a server
/// holds the target.
pub fn place(staged: &Path, target: &Path) -> Result<()> {
    let _lock = lock_unserved(target)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = dir_of(target);
    for suffix in ["-wal", "-shm", "-journal"] {
        let side = dir.join(format!("{name}{suffix}"));
        match std::fs::remove_file(&side) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
    }
    std::fs::rename(staged, target).map_err(io_error)?;
    sync_dir(&dir)
}

/// Rebuilds the account search index of a copy from its users rows: the
/// index is keyed by rowid, which `VACUUM INTO` need not keep. (A copy
/// from before migration 0007 has none; migrating builds it.)
async fn rebuild_search(conn: &mut sqlx::SqliteConnection) -> Result<()> {
    let present: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'users_search'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if present.is_some() {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query("INSERT INTO users_search (users_search) VALUES ('delete-all')")
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO users_search (rowid, uname, dname)
             SELECT rowid, user_name_folded, display_name_folded FROM users",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
