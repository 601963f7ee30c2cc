//! The nesting check of group writes on SQLite, now written once in
//! `sql::nesting`; this wrapper keeps the Store impl's call as it was.

use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::store::{MemberKind, Result};

/// See `sql::nesting::check`. Kept until the Store impl is ported.
pub(super) async fn check(
    tx: &mut SqliteConnection,
    group: Uuid,
    members: &[(Uuid, MemberKind)],
    added: &[Uuid],
) -> Result<()> {
    crate::store::sql::nesting::check::<super::Sqlite>(tx, group, members, added).await
}
