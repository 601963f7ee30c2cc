//! The nesting lock and check of group writes on PostgreSQL, now written
//! once in `sql::nesting`; these wrappers keep the Store impl's calls as
//! they were.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::store::sql::nesting;
use crate::store::{MemberKind, Result};

/// See `sql::nesting::lock`. Kept until the Store impl is ported.
pub(super) async fn lock(
    tx: &mut PgConnection,
    iam: Uuid,
    members: &[(Uuid, MemberKind)],
) -> Result<()> {
    nesting::lock::<super::Postgres>(tx, iam, members).await
}

/// See `sql::nesting::check`. Kept until the Store impl is ported.
pub(super) async fn check(
    tx: &mut PgConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    added: &[Uuid],
) -> Result<()> {
    nesting::check::<super::Postgres>(tx, group, members, added).await
}
