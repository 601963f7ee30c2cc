//! Export and import of the whole directory on either database: export
//! pages read in one snapshot transaction (`export`), import batches
//! written in one write transaction, all or nothing (`import`), and the
//! online backup, which only SQLite makes (`VACUUM INTO` on a reader).
//! The judgement of an import, item by item, lives in `apply`.

mod apply;
mod export;
mod import;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::accounts::{bind_subscription, insert_subscription, linked_row};
use super::{Backend, Dialect, Record, SqlStore, query};
use crate::store::transfer::*;
use crate::store::{MemberKind, Result, StoreError};

/// A transaction the export reads or the import writes through; it owns
/// the transaction, which only `Transfer` ends.
struct SqlTx<B: Backend>(B::Tx);

const USER_COLUMNS: &str = "id, iam_id, deprovisioned_from, deprovisioned, doc, disabled, \
     created, last_modified, version";
const GROUP_COLUMNS: &str = "id, iam_id, doc, created, last_modified, version";
const IAM_COLUMNS: &str = "id, name, display_name, created, settings, schema_extensions";
const MEMBERSHIP_COLUMNS: &str = "group_id, member_id, member_kind, added";
/// A subscription with where it comes from and the data source it names.
const LINKED_COLUMNS: &str =
    "id, user_id, data_source, role, subscribed, expires, data_source_id, source";

/// A user row of `USER_COLUMNS`, without its grants and attributes.
fn user_record(r: &impl Record) -> Result<UserRecord> {
    Ok(UserRecord {
        id: r.uuid("id")?,
        iam: r.opt_uuid("iam_id")?,
        deprovisioned_from: r.opt_uuid("deprovisioned_from")?,
        deprovisioned: r.opt_time("deprovisioned")?,
        doc: r.json("doc")?,
        disabled: r.bool("disabled")?,
        created: r.time("created")?,
        last_modified: r.time("last_modified")?,
        version: r.int("version")?,
        grants: Vec::new(),
        attributes: Vec::new(),
    })
}

/// A group row of `GROUP_COLUMNS`, without its attributes.
fn group_record(r: &impl Record) -> Result<GroupRecord> {
    Ok(GroupRecord {
        id: r.uuid("id")?,
        iam: r.uuid("iam_id")?,
        doc: r.json("doc")?,
        created: r.time("created")?,
        last_modified: r.time("last_modified")?,
        version: r.int("version")?,
        attributes: Vec::new(),
    })
}

fn iam_record(r: &impl Record) -> Result<IamRecord> {
    Ok(IamRecord {
        id: r.uuid("id")?,
        name: r.text("name")?,
        display_name: r.opt_text("display_name")?,
        created: r.time("created")?,
        settings: r.json("settings")?,
        schema_extensions: r.json("schema_extensions")?,
    })
}

fn membership_record(r: &impl Record) -> Result<MembershipRecord> {
    Ok(MembershipRecord {
        group: r.uuid("group_id")?,
        member: r.uuid("member_id")?,
        kind: super::members::kind(&r.text("member_kind")?)?,
        added: r.time("added")?,
    })
}

#[async_trait]
impl<B: Backend> Transfer for SqlStore<B> {
    fn export(&self, page: u64) -> ExportStream<'_> {
        export::export_pages(async move { Ok(SqlTx::<B>(self.snapshot().await?)) }, page)
    }

    async fn import(
        &self,
        items: &[ImportItem],
        records: &ImportRecords<'_>,
        now: OffsetDateTime,
    ) -> Result<std::result::Result<Vec<Outcome>, ItemFailed>> {
        let mut tx = SqlTx::<B>(self.begin().await?);
        // Memberships of groups in groups are judged under the nesting
        // locks, taken before any row is written (see `sql::nesting`); an
        // import may touch any IAM, so it takes them all.
        let nests = items
            .iter()
            .any(|i| matches!(i, ImportItem::Membership(m) if m.kind == MemberKind::Group));
        if nests {
            super::nesting::lock_all::<B>(&mut tx.0).await?;
        }
        let outcomes = match apply::apply_batch(&mut tx, items, now).await {
            Ok(o) => o,
            Err(failed) => {
                B::rollback(tx.0).await?;
                return Ok(Err(failed));
            }
        };
        if outcomes.iter().all(|o| *o == Outcome::Unchanged) {
            // Nothing changed: nothing to make durable.
            B::rollback(tx.0).await?;
            return Ok(Ok(outcomes));
        }
        let entries = records(&outcomes);
        super::audit::append_all::<B>(&mut tx.0, &entries, now).await?;
        B::commit(tx.0).await?;
        Ok(Ok(outcomes))
    }

    async fn backup_into(&self, path: &std::path::Path) -> Result<()> {
        if B::DIALECT == Dialect::Postgres {
            return Err(StoreError::Config(
                "backup copies SQLite databases; for PostgreSQL use pg_dump \
                 (pg_dump --format=custom --file=scim-bridge.dump DBNAME; see docs/BACKUPS.md)"
                    .into(),
            ));
        }
        let target = path
            .to_str()
            .ok_or_else(|| StoreError::Config("the backup path is not UTF-8".into()))?;
        // A reader: the copy is one consistent snapshot while the writer
        // keeps writing.
        let mut conn = self.read().await?;
        B::execute(&mut conn, query("VACUUM INTO $1").bind(target)).await?;
        Ok(())
    }
}
