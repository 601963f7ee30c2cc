//! PostgreSQL's names for helpers of the accounts store, which is written once
//! in `store::sql::accounts`.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Postgres;
use crate::audit::Entry;
use crate::store::Result;
use crate::store::sql::{accounts, audit};

// kept for the Store impl/transfer until they are ported
/// Appends an audit record inside the caller's write transaction.
pub(super) async fn append_audit(
    tx: &mut PgConnection,
    e: &Entry,
    now: OffsetDateTime,
) -> Result<()> {
    audit::append::<Postgres>(tx, e, now).await
}

// kept for the Store impl/transfer until they are ported
/// Appends audit records in order inside the caller's write transaction.
pub(super) async fn append_audits(
    tx: &mut PgConnection,
    entries: &[Entry],
    now: OffsetDateTime,
) -> Result<()> {
    audit::append_all::<Postgres>(tx, entries, now).await
}

// kept for the Store impl/transfer until they are ported
/// Grants an IAM's default permissions to a new user (names not in the
/// catalogue are skipped).
pub(super) async fn grant_defaults(
    tx: &mut PgConnection,
    user: Uuid,
    grants: &[String],
    now: OffsetDateTime,
) -> Result<()> {
    accounts::grant_defaults::<Postgres>(tx, user, grants, now).await
}
