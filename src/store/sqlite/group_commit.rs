//! Group commit for SQLite writes. With `synchronous=FULL` every commit
//! waits for an fsync of the WAL, and with one writer the commits queue up
//! behind each other: the disk, not the CPU, bounds the write rate. Here
//! one task takes every write queued meanwhile and runs them in one
//! transaction, each inside its own savepoint, so that one fsync covers
//! them all.
//!
//! What each request sees is unchanged: its statements apply entirely or
//! not at all (a failed one rolls back to its savepoint and returns its
//! error, the others go on), and it is answered only after the COMMIT that
//! made it durable. If the transaction itself fails (the savepoint cannot
//! be rolled back to, or the COMMIT fails), every write of the batch gets
//! an error and none is acknowledged.
//!
//! A write whose requester is gone when its turn comes (its request's
//! deadline passed, see `crate::deadline`) is dropped unrun, so a 503 for
//! a queued write means it was not applied.

use futures_util::future::BoxFuture;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::super::{Result, StoreError};
use super::BEGIN_IMMEDIATE;
use crate::deadline::Deadline;

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 128;

/// Reports a write's outcome once its transaction has ended: `Ok` after a
/// successful COMMIT, else why the transaction failed.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// One queued write: runs inside the batch's transaction and tells whether
/// its statements stand (false: roll back to its savepoint).
type Job =
    Box<dyn for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, (bool, Finish)> + Send>;

#[derive(Clone)]
pub(super) struct GroupCommit {
    queue: mpsc::UnboundedSender<Job>,
}

impl GroupCommit {
    /// Starts the writer task on `writer` (a pool of one connection, which
    /// other writes may still use directly: batches take it like they do).
    pub fn start(writer: SqlitePool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(writer, rx));
        GroupCommit { queue: tx }
    }

    /// Runs `f` in the next batch; its result once the batch is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> BoxFuture<'c, Result<T>> + Send + 'static,
    {
        let (done, answer) = oneshot::channel::<Result<T>>();
        let deadline = Deadline::current();
        let job: Job = Box::new(move |conn| {
            Box::pin(async move {
                // A request that gave up while its write was queued (its
                // deadline passed, or its client went away) is abandoned
                // here, before anything of it is written; one whose write
                // begins is answered once the batch commits.
                let abandoned =
                    done.is_closed() || deadline.as_ref().is_some_and(|d| !d.begin_write());
                if abandoned {
                    let finish: Finish = Box::new(|_| {});
                    return (true, finish);
                }
                let outcome = f(conn).await;
                let ok = outcome.is_ok();
                let finish: Finish = Box::new(move |committed| {
                    let reply = match (outcome, committed) {
                        (Err(e), _) => Err(e),
                        (Ok(v), Ok(())) => Ok(v),
                        (Ok(_), Err(why)) => Err(batch_failed(why)),
                    };
                    // The requester may have gone away; nothing to tell.
                    let _ = done.send(reply);
                });
                (ok, finish)
            })
        });
        self.queue
            .send(job)
            .map_err(|_| batch_failed("the writer task has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            batch_failed("the write transaction could not be started or went on failing".to_owned())
        })?
    }
}

fn batch_failed(why: String) -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(format!(
        "write transaction failed, nothing was written: {why}"
    )))
}

async fn run(writer: SqlitePool, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        // A job dropped unrun closes its requester's answer channel, which
        // the requester reports as an error: nothing of it was written.
        let Ok(mut conn) = writer.acquire().await else {
            jobs.clear();
            continue;
        };
        let (finishes, outcome) = run_batch(&mut conn, jobs.drain(..)).await;
        for f in finishes {
            f(outcome.clone());
        }
    }
}

/// Runs the jobs in one transaction; the finishers of those that ran, and
/// whether the transaction committed. Jobs left unrun when the transaction
/// fails are dropped.
async fn run_batch(
    conn: &mut SqliteConnection,
    jobs: impl ExactSizeIterator<Item = Job>,
) -> (Vec<Finish>, std::result::Result<(), String>) {
    let mut finishes = Vec::new();
    if let Err(e) = exec(conn, BEGIN_IMMEDIATE).await {
        return (finishes, Err(e.to_string()));
    }
    if jobs.len() == 1 {
        // Alone in its transaction: no savepoint needed, a failure rolls
        // the whole transaction back.
        for job in jobs {
            let (ok, finish) = job(conn).await;
            finishes.push(finish);
            if !ok {
                let _ = exec(conn, "ROLLBACK").await;
                return (finishes, Ok(()));
            }
        }
        let outcome = exec(conn, "COMMIT").await.map_err(|e| e.to_string());
        if outcome.is_err() {
            let _ = exec(conn, "ROLLBACK").await;
        }
        return (finishes, outcome);
    }
    // Each job behind a savepoint of its own, left open rather than
    // released (a round trip fewer per job): a job that fails rolls back to
    // the most recent savepoint of the name, its own, and COMMIT ends them
    // all with the transaction.
    let mut failure = None;
    for job in jobs {
        if let Err(e) = exec(conn, "SAVEPOINT w").await {
            failure = Some(e.to_string());
            break;
        }
        let (ok, finish) = job(conn).await;
        finishes.push(finish);
        if !ok && let Err(e) = exec(conn, "ROLLBACK TO w").await {
            failure = Some(e.to_string());
            break;
        }
    }
    let outcome = match failure {
        None => exec(conn, "COMMIT").await.map_err(|e| e.to_string()),
        Some(why) => Err(why),
    };
    if outcome.is_err() {
        // Harmless if SQLite already rolled the transaction back.
        let _ = exec(conn, "ROLLBACK").await;
    }
    (finishes, outcome)
}

async fn exec(conn: &mut SqliteConnection, sql: &'static str) -> sqlx::Result<()> {
    sqlx::raw_sql(sql).execute(conn).await.map(|_| ())
}
