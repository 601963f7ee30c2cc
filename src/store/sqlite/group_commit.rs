//! The SQLite writer: one connection on a thread of its own, and group
//! commit for the writes sent to it. With `synchronous=FULL` every commit
//! waits for an fsync of the WAL, and with one writer the commits queue up
//! behind each other. Here the thread takes every write queued meanwhile
//! and runs them in one transaction, each inside its own savepoint, so that
//! one fsync covers them all.
//!
//! A write's statements run on the thread itself, one after the other,
//! with no hand-off per statement: the write's closure gets the connection
//! and every statement it awaits is complete when polled (see
//! `conn::SqliteConn`), so the thread drives the closure to its end with a
//! minimal executor ([`block_on`]). A write costs two wake-ups in all (the
//! thread's, shared by the batch, and the requester's on its answer),
//! whatever the number of its statements.
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
//!
//! The other uses of the writer (`Backend::begin`, `Backend::writer`: the
//! CLI, imports, jobs, sessions) each get a [`Session`]: the thread serves
//! that task's statements, one message each way per statement, until the
//! task lets go of it, and rolls back what it left uncommitted. Sessions
//! and batches take their turns in the order they were asked for.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;

use futures_util::future::BoxFuture;
use rusqlite::Connection;
use tokio::sync::oneshot;

use super::super::sql::{Query, Record, query};
use super::super::{Result, StoreError};
use super::BEGIN_IMMEDIATE;
use super::conn::{Inner, Outcome, SqliteConn, Want};
use crate::deadline::Deadline;

/// At most this many writes share one transaction.
const MAX_BATCH: usize = 128;

/// Reports a write's outcome once its transaction has ended: `Ok` after a
/// successful COMMIT, else why the transaction failed.
type Finish = Box<dyn FnOnce(std::result::Result<(), String>) + Send>;

/// One queued write: runs inside the batch's transaction and tells whether
/// its statements stand (false: roll back to its savepoint).
type Job = Box<dyn for<'c> FnOnce(&'c mut SqliteConn) -> BoxFuture<'c, (bool, Finish)> + Send>;

/// What the writer's thread is asked to do, taken in order.
enum Message {
    /// A write of the group commit.
    Write(Job),
    /// A task's own use of the writer: its statements, until it lets go.
    Session(mpsc::Receiver<Call>),
}

/// One statement of a session, and where its outcome goes.
struct Call {
    query: Query,
    want: Want,
    reply: oneshot::Sender<Result<Outcome>>,
}

/// A task's hold on the writer connection (a transaction of its own, or
/// single statements each committed by itself). Dropping it lets the
/// writer go on, after rolling back a transaction left open.
pub(super) struct Session {
    calls: mpsc::Sender<Call>,
}

impl Session {
    /// Runs a statement on the writer's thread; the first waits for the
    /// writer's turn.
    pub async fn run(&self, query: Query, want: Want) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.calls
            .send(Call { query, want, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

pub(super) struct GroupCommit {
    queue: mpsc::Sender<Message>,
    busy: Arc<AtomicBool>,
}

impl GroupCommit {
    /// Starts the writer's thread on `conn`.
    pub fn start(conn: Connection) -> Result<Self> {
        let (queue, rx) = mpsc::channel();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = busy.clone();
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(SqliteConn(Inner::Local(conn)), &rx, &flag))
            .map_err(|e| StoreError::Config(format!("cannot start the SQLite writer: {e}")))?;
        Ok(GroupCommit { queue, busy })
    }

    /// Whether the writer is running something now.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed)
    }

    /// The writer for this task alone, after what was queued before it.
    pub fn session(&self) -> Result<Session> {
        let (calls, rx) = mpsc::channel();
        self.queue
            .send(Message::Session(rx))
            .map_err(|_| stopped())?;
        Ok(Session { calls })
    }

    /// Runs `f` in the next batch; its result once the batch is committed.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConn) -> BoxFuture<'c, Result<T>> + Send + 'static,
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
            .send(Message::Write(job))
            .map_err(|_| batch_failed("the writer has stopped".to_owned()))?;
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

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::Protocol(
        "the SQLite writer has stopped".into(),
    ))
}

/// The writer's thread: batches and sessions in the order they come, until
/// the store is dropped.
fn run(mut conn: SqliteConn, queue: &mpsc::Receiver<Message>, busy: &AtomicBool) {
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        busy.store(true, Ordering::Relaxed);
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Session(calls) => serve(&mut conn, &calls, &waker),
                Message::Write(job) => {
                    jobs.push(job);
                    // Every write queued meanwhile joins the batch; a
                    // session waits for the batch to end.
                    while jobs.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(Message::Write(job)) => jobs.push(job),
                            Ok(session) => {
                                next = Some(session);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let (finishes, outcome) = run_batch(&mut conn, jobs.drain(..), &waker);
                    for f in finishes {
                        f(outcome.clone());
                    }
                }
            }
        }
        busy.store(false, Ordering::Relaxed);
    }
}

/// Serves one session's statements until it is dropped, then rolls back a
/// transaction it left open. A statement whose requester is gone is not
/// run (its task was cancelled: the session is about to end).
fn serve(conn: &mut SqliteConn, calls: &mpsc::Receiver<Call>, waker: &Waker) {
    for Call { query, want, reply } in calls.iter() {
        if reply.is_closed() {
            continue;
        }
        let outcome = if conn.in_transaction() && query.sql == "COMMIT" {
            commit(conn, waker).map(|()| Outcome::default())
        } else {
            let outcome = block_on(conn.run(query, want), waker);
            // A statement that committed by itself may have changed users
            // rows: their search entries follow in a transaction of their
            // own, right after.
            if outcome.is_ok() && !conn.in_transaction() {
                let _ = index_alone(conn, waker);
            }
            outcome
        };
        let _ = reply.send(outcome);
    }
    if conn.in_transaction() {
        let _ = exec(conn, "ROLLBACK", waker);
    }
}

/// Runs the jobs in one transaction; the finishers of those that ran, and
/// whether the transaction committed. Jobs left unrun when the transaction
/// fails are dropped.
fn run_batch(
    conn: &mut SqliteConn,
    jobs: impl ExactSizeIterator<Item = Job>,
    waker: &Waker,
) -> (Vec<Finish>, std::result::Result<(), String>) {
    let mut finishes = Vec::with_capacity(jobs.len());
    if let Err(e) = exec(conn, BEGIN_IMMEDIATE, waker) {
        return (finishes, Err(e.to_string()));
    }
    if jobs.len() == 1 {
        // Alone in its transaction: no savepoint needed, a failure rolls
        // the whole transaction back.
        for job in jobs {
            let (ok, finish) = block_on(job(conn), waker);
            finishes.push(finish);
            if !ok {
                let _ = exec(conn, "ROLLBACK", waker);
                return (finishes, Ok(()));
            }
        }
        let outcome = commit(conn, waker).map_err(|e| e.to_string());
        if outcome.is_err() {
            let _ = exec(conn, "ROLLBACK", waker);
        }
        return (finishes, outcome);
    }
    // Each job behind a savepoint of its own, left open rather than
    // released (a statement fewer per job): a job that fails rolls back to
    // the most recent savepoint of the name, its own, and COMMIT ends them
    // all with the transaction.
    let mut failure = None;
    for job in jobs {
        if let Err(e) = exec(conn, "SAVEPOINT w", waker) {
            failure = Some(e.to_string());
            break;
        }
        let (ok, finish) = block_on(job(conn), waker);
        finishes.push(finish);
        if !ok && let Err(e) = exec(conn, "ROLLBACK TO w", waker) {
            failure = Some(e.to_string());
            break;
        }
    }
    let outcome = match failure {
        None => commit(conn, waker).map_err(|e| e.to_string()),
        Some(why) => Err(why),
    };
    if outcome.is_err() && conn.in_transaction() {
        let _ = exec(conn, "ROLLBACK", waker);
    }
    (finishes, outcome)
}

/// Applies the search index's pending notes (migration 0020) and commits
/// the transaction: the index changes with the rows it indexes.
fn commit(conn: &mut SqliteConn, waker: &Waker) -> Result<()> {
    index_pending(conn, waker)?;
    exec(conn, "COMMIT", waker)
}

/// Brings the account search's trigram index up to date with the users
/// rows the open transaction changed (their rowids noted by triggers): one
/// index segment for the whole transaction instead of one per write.
fn index_pending(conn: &mut SqliteConn, waker: &Waker) -> Result<()> {
    // Entries of rows the index held when the transaction began (a rowid
    // lookup each: FTS5 takes `rowid IN` one value at a time).
    const REMOVE: &str = "DELETE FROM users_search WHERE rowid IN \
         (SELECT id FROM users_search_pending WHERE indexed = 1)";
    // Entries of the rows as they are now (none for a deleted row). The
    // notes drive the join (CROSS JOIN keeps them outside): the other way
    // round is a walk of every users row.
    const ADD: &str = "INSERT INTO users_search (rowid, uname, dname) \
         SELECT u.rowid, u.user_name_folded, u.display_name_folded \
         FROM users_search_pending p CROSS JOIN users u ON u.rowid = p.id";
    const DONE: &str = "DELETE FROM users_search_pending";
    let Some(removes) = search_notes(conn, waker)? else {
        return Ok(());
    };
    if removes {
        exec(conn, REMOVE, waker)?;
    }
    exec(conn, ADD, waker)?;
    exec(conn, DONE, waker)
}

/// Whether the search index has changes noted to apply, and if so whether
/// any of them removes an entry (a create only adds one).
fn search_notes(conn: &mut SqliteConn, waker: &Waker) -> Result<Option<bool>> {
    let notes = query("SELECT max(indexed) AS removes FROM users_search_pending");
    let row = block_on(conn.run(notes, Want::First), waker)?;
    match row.rows.first() {
        Some(r) => Ok(r.opt_int("removes")?.map(|m| m == 1)),
        None => Ok(None),
    }
}

/// `index_pending` in a transaction of its own, after a statement that
/// committed by itself; nothing when there is nothing to do.
fn index_alone(conn: &mut SqliteConn, waker: &Waker) -> Result<()> {
    if search_notes(conn, waker)?.is_none() {
        return Ok(());
    }
    exec(conn, BEGIN_IMMEDIATE, waker)?;
    let outcome = commit(conn, waker);
    if outcome.is_err() && conn.in_transaction() {
        let _ = exec(conn, "ROLLBACK", waker);
    }
    outcome
}

fn exec(conn: &mut SqliteConn, sql: &'static str, waker: &Waker) -> Result<()> {
    block_on(conn.run(query(sql), Want::Changes), waker).map(drop)
}

/// Wakes the writer's thread.
struct Unpark(thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `f` to its end on this thread. A write's statements complete
/// when first polled, so this returns at the first poll; a write that
/// awaits something else (a channel) parks the thread until it is woken.
fn block_on<F: Future>(f: F, waker: &Waker) -> F::Output {
    let mut cx = Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park();
    }
}
