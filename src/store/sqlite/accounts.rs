//! SQLite's names for helpers of the accounts store, which is written once
//! in `store::sql::accounts`.

use sqlx::SqliteConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Sqlite;
use crate::audit::Entry;
use crate::store::Result;
use crate::store::sql::{accounts, audit};

// kept for the Store impl/transfer until they are ported
/// Appends an audit record inside the caller's write transaction.
pub(super) async fn append_audit(
    tx: &mut SqliteConnection,
    e: &Entry,
    now: OffsetDateTime,
) -> Result<()> {
    audit::append::<Sqlite>(tx, e, now).await
}

// kept for the Store impl/transfer until they are ported
/// Appends audit records in order inside the caller's write transaction.
pub(super) async fn append_audits(
    tx: &mut SqliteConnection,
    entries: &[Entry],
    now: OffsetDateTime,
) -> Result<()> {
    audit::append_all::<Sqlite>(tx, entries, now).await
}

// kept for the Store impl/transfer until they are ported
/// Grants an IAM's default permissions to a new user (names not in the
/// catalogue are skipped).
pub(super) async fn grant_defaults(
    tx: &mut SqliteConnection,
    user: Uuid,
    grants: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    accounts::grant_defaults::<Sqlite>(tx, user, grants, now).await
}
