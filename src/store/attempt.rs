//! What one attempt at a request did to the database, for the one place
//! that decides whether the request may run again (`http::retry`): whether
//! the database was unavailable (unreachable, restarting, or read-only
//! because it is no longer the primary) and whether a write may have
//! reached it (a COMMIT was sent, or a statement ran outside an explicit
//! transaction). A request that met an unavailable database and sent no
//! write changed nothing, and runs again safely; one that may have written
//! is answered 503 instead: its change may or may not have been applied,
//! and only the client, which sees the 503, may decide to send it again.
//!
//! Kept in a task-local: the request's handler and every store call it
//! makes run in the request's task. Outside a [`run`] (migrations, the
//! event worker) the marks go nowhere.

use std::cell::Cell;
use std::future::Future;

use super::StoreError;

tokio::task_local! {
    static ATTEMPT: Marks;
}

#[derive(Default)]
struct Marks {
    unavailable: Cell<bool>,
    wrote: Cell<bool>,
}

/// What [`run`] saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// A store call failed with [`StoreError::Unavailable`].
    pub unavailable: bool,
    /// A write may have reached the database (committed or not).
    pub wrote: bool,
}

impl Outcome {
    /// What two attempts at parts of one request saw together.
    pub fn and(self, other: Outcome) -> Outcome {
        Outcome {
            unavailable: self.unavailable || other.unavailable,
            wrote: self.wrote || other.wrote,
        }
    }
}

/// Runs `f`, noting what its store calls did.
pub async fn run<F: Future>(f: F) -> (F::Output, Outcome) {
    let marks = Marks::default();
    ATTEMPT
        .scope(marks, async {
            let out = f.await;
            let outcome = ATTEMPT.with(|m| Outcome {
                unavailable: m.unavailable.get(),
                wrote: m.wrote.get(),
            });
            (out, outcome)
        })
        .await
}

/// Called before a COMMIT or a statement that commits by itself is sent.
pub(crate) fn writing() {
    let _ = ATTEMPT.try_with(|m| m.wrote.set(true));
    super::read_scaling::wrote();
}

/// The database is unavailable: `cause` becomes the error (and is noted).
pub(crate) fn unavailable(cause: String) -> StoreError {
    let _ = ATTEMPT.try_with(|m| m.unavailable.set(true));
    StoreError::Unavailable(cause)
}

/// Whether a PostgreSQL error means the database cannot take the request
/// now but may shortly (a failover, a restart): the connection broke or
/// could not be made, the server is shutting down or starting up
/// (57P01-57P03), refuses connections (53300), has no connection (class
/// 08), or is read-only (25006: a standby, or a primary being demoted).
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => d
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| {
                let code = pg.code();
                code.starts_with("08")
                    || matches!(code, "25006" | "57P01" | "57P02" | "57P03" | "53300")
            }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn marks_stay_in_their_attempt() {
        let ((), o) = run(async {
            writing();
        })
        .await;
        assert_eq!(
            o,
            Outcome {
                unavailable: false,
                wrote: true
            }
        );
        let (e, o) = run(async { unavailable("gone".into()) }).await;
        assert!(matches!(e, StoreError::Unavailable(_)));
        assert_eq!(
            o,
            Outcome {
                unavailable: true,
                wrote: false
            }
        );
        // Outside an attempt nothing is noted, and nothing fails.
        writing();
        assert!(matches!(
            unavailable("x".into()),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn connection_errors_are_transient_and_others_are_not() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(is_transient(&io));
        assert!(is_transient(&sqlx::Error::PoolTimedOut));
        assert!(!is_transient(&sqlx::Error::RowNotFound));
        assert!(!is_transient(&sqlx::Error::PoolClosed));
    }
}
