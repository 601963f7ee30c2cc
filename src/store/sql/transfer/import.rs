//! The row operations of an import, inside its one write transaction:
//! each reads or writes one kind of row; `apply::apply_batch` decides
//! which run. Rows of a user's grants, attributes and emails go in
//! with one statement whatever their number.

use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::store::accounts::{Grant, LinkedSubscription, PermissionDef};
use crate::store::governance::{DataSource, StoredPolicy, Tag};
use crate::store::sql::governance::{
    POLICY_COLUMNS, TAG_COLUMNS, assemble, insert_parts, policy_row, tag_row,
};
use crate::store::sql::users::insert_emails;
use crate::store::sql::{Bind, Ty, unique};
use crate::store::{GroupWrite, UserWrite};

const INSERT_USER: &str = "INSERT INTO users (id, iam_id, user_name, user_name_folded,
         external_id, display_name_folded, active, doc, search, password_hash, created,
         last_modified, version, disabled, deprovisioned, deprovisioned_from)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)";

const UPDATE_USER: &str = "UPDATE users SET iam_id = $2, user_name = $3, user_name_folded = $4,
         external_id = $5, display_name_folded = $6, active = $7, doc = $8,
         search = $9, password_hash = COALESCE($10, password_hash), created = $11,
         last_modified = $12, version = $13, disabled = $14, deprovisioned = $15,
         deprovisioned_from = $16,
         -- as a disable or enable would: no token outlives the change
         token_generation = token_generation
             + CASE WHEN disabled <> $14 THEN 1 ELSE 0 END
     WHERE id = $1";

const INSERT_GROUP: &str = "INSERT INTO groups (id, iam_id, display_name, display_name_folded,
         external_id, doc, search, created, last_modified, version)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// A group never moves between IAMs (`apply_group` refuses it): the IAM
/// only names the row.
const UPDATE_GROUP: &str = "UPDATE groups SET display_name = $3, display_name_folded = $4,
         external_id = $5, doc = $6, search = $7, created = $8, last_modified = $9,
         version = $10
     WHERE id = $1 AND iam_id = $2";

/// `INSERT_GROUP` or `UPDATE_GROUP` with the group's values bound.
fn group_write(sql: &'static str, r: &GroupRecord, w: &GroupWrite) -> crate::store::sql::Query {
    query(sql)
        .bind(r.id)
        .bind(r.iam)
        .bind(&w.display_name)
        .bind(&w.display_name_folded)
        .bind(&w.external_id)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
}

/// `INSERT_USER` or `UPDATE_USER` with the user's values bound.
fn user_write(sql: &'static str, r: &UserRecord, w: &UserWrite) -> crate::store::sql::Query {
    query(sql)
        .bind(r.id)
        .bind(r.iam)
        .bind(w.user_name.as_str())
        .bind(w.user_name.folded())
        .bind(&w.external_id)
        .bind(&w.display_name_folded)
        .bind(w.active)
        .bind(&r.doc)
        .bind(&w.search)
        .bind(w.password_hash.clone().flatten())
        .bind(r.created)
        .bind(r.last_modified)
        .bind(r.version)
        .bind(r.disabled)
        .bind(r.deprovisioned)
        .bind(r.deprovisioned_from)
}

/// The row operations an import needs; `apply::apply_batch` decides which
/// to run.
impl<B: Backend> SqlTx<B> {
    /// The rows of `table` with these ids, read as `columns`.
    async fn by_ids(&mut self, columns: &str, table: &str, ids: &[Uuid]) -> Result<Vec<B::Row>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let each = B::DIALECT.each(1, Ty::Uuid);
        let sql = format!("SELECT {columns} FROM {table} WHERE id IN ({each})");
        B::fetch_all(&mut self.0, query(sql).bind(ids)).await
    }

    pub(super) async fn iam_by_name(&mut self, name: &str) -> Result<Option<IamRecord>> {
        let sql = format!("SELECT {IAM_COLUMNS} FROM iams WHERE name = $1");
        let row = B::fetch_optional(&mut self.0, query(sql).bind(name)).await?;
        row.as_ref().map(iam_record).transpose()
    }

    pub(super) async fn insert_iam(&mut self, r: &IamRecord) -> Result<()> {
        let q = query(
            "INSERT INTO iams (id, name, display_name, created, settings, schema_extensions) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(r.id)
        .bind(&r.name)
        .bind(&r.display_name)
        .bind(r.created)
        .bind(&r.settings)
        .bind(&r.schema_extensions);
        B::execute(&mut self.0, q)
            .await
            .map_err(|e| unique(e, "iams_name"))?;
        Ok(())
    }

    /// Sets the display name, settings and schema extensions of the IAM
    /// with this id.
    pub(super) async fn update_iam(&mut self, id: Uuid, r: &IamRecord) -> Result<()> {
        let q = query(
            "UPDATE iams SET display_name = $2, settings = $3, schema_extensions = $4 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(&r.display_name)
        .bind(&r.settings)
        .bind(&r.schema_extensions);
        B::execute(&mut self.0, q).await?;
        Ok(())
    }

    pub(super) async fn permission(&mut self, name: &str) -> Result<Option<PermissionDef>> {
        let q = query("SELECT description, builtin FROM permissions WHERE name = $1").bind(name);
        let row = B::fetch_optional(&mut self.0, q).await?;
        row.map(|r| {
            Ok(PermissionDef {
                name: name.to_owned(),
                description: r.text("description")?,
                builtin: r.bool("builtin")?,
            })
        })
        .transpose()
    }

    pub(super) async fn insert_permission(
        &mut self,
        p: &PermissionDef,
        now: OffsetDateTime,
    ) -> Result<()> {
        let q = query(
            "INSERT INTO permissions (name, description, builtin, created) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(&p.name)
        .bind(&p.description)
        .bind(false)
        .bind(now);
        B::execute(&mut self.0, q).await?;
        Ok(())
    }

    pub(super) async fn update_permission(&mut self, p: &PermissionDef) -> Result<()> {
        let q = query("UPDATE permissions SET description = $2 WHERE name = $1 AND NOT builtin")
            .bind(&p.name)
            .bind(&p.description);
        B::execute(&mut self.0, q).await?;
        Ok(())
    }

    /// The users (with their grants and attributes) and the groups (with
    /// their attributes) with these ids, as they stand.
    pub(super) async fn stored(
        &mut self,
        users: &[Uuid],
        groups: &[Uuid],
    ) -> Result<(Vec<UserRecord>, Vec<GroupRecord>)> {
        let rows = self.by_ids(USER_COLUMNS, "users", users).await?;
        let users = self.users_of(rows).await?;
        let rows = self.by_ids(GROUP_COLUMNS, "groups", groups).await?;
        Ok((users, self.groups_of(rows).await?))
    }

    pub(super) async fn insert_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()> {
        B::execute(&mut self.0, user_write(INSERT_USER, r, w))
            .await
            .map_err(|e| unique(e, "users_iam_user_name"))?;
        // A new user: no email rows to delete first.
        insert_emails::<B>(&mut self.0, r.id, &w.search).await
    }

    /// Every column but the password hash (kept unless `w` sets one).
    pub(super) async fn update_user(&mut self, r: &UserRecord, w: &UserWrite) -> Result<()> {
        B::execute(&mut self.0, user_write(UPDATE_USER, r, w))
            .await
            .map_err(|e| unique(e, "users_iam_user_name"))?;
        let q = query("DELETE FROM user_emails WHERE user_id = $1").bind(r.id);
        B::execute(&mut self.0, q).await?;
        insert_emails::<B>(&mut self.0, r.id, &w.search).await
    }

    /// Replaces (`clear`: deletes first) the user's stored grants.
    pub(super) async fn put_grants(
        &mut self,
        user: Uuid,
        grants: &[Grant],
        clear: bool,
    ) -> Result<()> {
        if clear {
            let q = query("DELETE FROM user_permissions WHERE user_id = $1").bind(user);
            B::execute(&mut self.0, q).await?;
        }
        if grants.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO user_permissions (user_id, permission, source, granted)
             SELECT $1, t.permission, t.source, t.granted FROM {}",
            B::DIALECT.rows(
                2,
                &[
                    ("permission", Ty::Text),
                    ("source", Ty::Text),
                    ("granted", Ty::Time),
                ]
            )
        );
        let rows = Bind::Columns(vec![
            grants
                .iter()
                .map(|g| g.permission.clone())
                .collect::<Vec<_>>()
                .into(),
            grants
                .iter()
                .map(|g| g.source.clone())
                .collect::<Vec<_>>()
                .into(),
            grants.iter().map(|g| g.granted).collect::<Vec<_>>().into(),
        ]);
        B::execute(&mut self.0, query(sql).bind(user).bind(rows)).await?;
        Ok(())
    }

    pub(super) async fn put_attributes(
        &mut self,
        owner: Uuid,
        attributes: &[AttributeValue],
        clear: bool,
    ) -> Result<()> {
        if clear {
            let q = query("DELETE FROM attributes WHERE owner_id = $1").bind(owner);
            B::execute(&mut self.0, q).await?;
        }
        if attributes.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "INSERT INTO attributes (owner_id, key, value, added)
             SELECT $1, t.key, t.value, t.added FROM {}",
            B::DIALECT.rows(
                2,
                &[("key", Ty::Text), ("value", Ty::Text), ("added", Ty::Time)]
            )
        );
        let rows = Bind::Columns(vec![
            attributes
                .iter()
                .map(|a| a.key.clone())
                .collect::<Vec<_>>()
                .into(),
            attributes
                .iter()
                .map(|a| a.value.clone())
                .collect::<Vec<_>>()
                .into(),
            attributes
                .iter()
                .map(|a| a.added)
                .collect::<Vec<_>>()
                .into(),
        ]);
        B::execute(&mut self.0, query(sql).bind(owner).bind(rows)).await?;
        Ok(())
    }

    pub(super) async fn insert_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()> {
        B::execute(&mut self.0, group_write(INSERT_GROUP, r, w))
            .await
            .map_err(|e| unique(e, "groups_iam_display_name"))?;
        Ok(())
    }

    pub(super) async fn update_group(&mut self, r: &GroupRecord, w: &GroupWrite) -> Result<()> {
        B::execute(&mut self.0, group_write(UPDATE_GROUP, r, w))
            .await
            .map_err(|e| unique(e, "groups_iam_display_name"))?;
        Ok(())
    }

    pub(super) async fn membership(
        &mut self,
        group: Uuid,
        member: Uuid,
    ) -> Result<Option<MembershipRecord>> {
        let sql = format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM group_members WHERE group_id = $1 AND member_id = $2"
        );
        let row = B::fetch_optional(&mut self.0, query(sql).bind(group).bind(member)).await?;
        row.as_ref().map(membership_record).transpose()
    }

    pub(super) async fn exists(&mut self, kind: MemberKind, id: Uuid) -> Result<bool> {
        let sql = match kind {
            MemberKind::User => "SELECT 1 FROM users WHERE id = $1",
            MemberKind::Group => "SELECT 1 FROM groups WHERE id = $1",
        };
        let row = B::fetch_optional(&mut self.0, query(sql).bind(id)).await?;
        Ok(row.is_some())
    }

    /// Inserts the row, or sets its kind and date.
    pub(super) async fn put_membership(&mut self, m: &MembershipRecord) -> Result<()> {
        let q = query(
            "INSERT INTO group_members (group_id, member_id, member_kind, added)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (group_id, member_id)
             DO UPDATE SET member_kind = excluded.member_kind, added = excluded.added",
        )
        .bind(m.group)
        .bind(m.member)
        .bind(m.kind.as_str())
        .bind(m.added);
        B::execute(&mut self.0, q).await?;
        Ok(())
    }

    /// Refuses the membership of group `member` in `group`, just put, when
    /// it closes a cycle or nests groups too deep (`store::nesting`).
    pub(super) async fn check_nesting(&mut self, group: Uuid, member: Uuid) -> Result<()> {
        let member = [(member, MemberKind::Group)];
        crate::store::sql::nesting::check::<B>(&mut self.0, group, &member, &[member[0].0]).await
    }

    pub(super) async fn subscription(&mut self, id: Uuid) -> Result<Option<LinkedSubscription>> {
        let sql = format!("SELECT {LINKED_COLUMNS} FROM subscriptions WHERE id = $1");
        let row = B::fetch_optional(&mut self.0, query(sql).bind(id)).await?;
        row.as_ref().map(linked_row).transpose()
    }

    /// Stores the subscription (replacing the row of its id), linked to
    /// its data source, or by its name when it names none (as an
    /// administrator's is).
    pub(super) async fn put_subscription(
        &mut self,
        s: &LinkedSubscription,
        exists: bool,
    ) -> Result<()> {
        if exists {
            let q = query("DELETE FROM subscriptions WHERE id = $1").bind(s.subscription.id);
            B::execute(&mut self.0, q).await?;
        }
        let Some(id) = s.data_source_id else {
            B::execute(&mut self.0, insert_subscription(&s.subscription)).await?;
            return Ok(());
        };
        let sql = format!(
            "INSERT INTO subscriptions ({LINKED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let q = bind_subscription(sql, &s.subscription)
            .bind(id)
            .bind(&s.source);
        B::execute(&mut self.0, q)
            .await
            .map_err(|e| unique(e, "subscriptions_policy"))?;
        Ok(())
    }

    pub(super) async fn tag(&mut self, name: &str) -> Result<Option<Tag>> {
        let sql = format!("SELECT {TAG_COLUMNS} FROM tags WHERE name = $1");
        let row = B::fetch_optional(&mut self.0, query(sql).bind(name)).await?;
        row.as_ref().map(tag_row).transpose()
    }

    /// A new tag (its parent there already), deleted or not.
    pub(super) async fn insert_tag(&mut self, t: &Tag) -> Result<()> {
        let q = query(
            "INSERT INTO tags (id, name, parent, name_folded, description, created, deleted)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.id)
        .bind(&t.name)
        .bind(&t.parent)
        .bind(crate::scim::resource::fold_case(&t.name))
        .bind(&t.description)
        .bind(t.created)
        .bind(t.deleted);
        B::execute(&mut self.0, q)
            .await
            .map_err(|e| unique(e, "tags_id"))?;
        Ok(())
    }

    /// The tag of `t`'s name takes its description, creation and
    /// deletion (its id stays: this database's records name it).
    pub(super) async fn update_tag(&mut self, t: &Tag) -> Result<()> {
        let q =
            query("UPDATE tags SET description = $2, created = $3, deleted = $4 WHERE name = $1")
                .bind(&t.name)
                .bind(&t.description)
                .bind(t.created)
                .bind(t.deleted);
        B::execute(&mut self.0, q).await?;
        Ok(())
    }

    pub(super) async fn policy(&mut self, key: &str) -> Result<Option<StoredPolicy>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM policies WHERE policy_key = $1");
        let row = B::fetch_optional(&mut self.0, query(sql).bind(key)).await?;
        row.as_ref().map(policy_row).transpose()
    }

    /// Inserts the policy, or (`exists`) sets the document and dates of
    /// the policy of its key (whose id stays).
    pub(super) async fn put_policy(&mut self, p: &StoredPolicy, exists: bool) -> Result<()> {
        let sql = if exists {
            "UPDATE policies SET document = $3, created = $4, updated = $5 WHERE policy_key = $2"
        } else {
            "INSERT INTO policies (id, policy_key, document, created, updated)
             VALUES ($1, $2, $3, $4, $5)"
        };
        let q = query(sql)
            .bind(p.id)
            .bind(&p.key)
            .bind(&p.document)
            .bind(p.created)
            .bind(p.updated);
        B::execute(&mut self.0, q)
            .await
            .map_err(|e| unique(e, "policies_id"))?;
        Ok(())
    }

    pub(super) async fn data_source(&mut self, id: Uuid) -> Result<Option<DataSource>> {
        let q = query("SELECT id, name, created FROM data_sources WHERE id = $1").bind(id);
        let rows = B::fetch_all(&mut self.0, q).await?;
        Ok(assemble::<B>(&mut self.0, rows).await?.pop())
    }

    pub(super) async fn data_source_exists(&mut self, id: Uuid) -> Result<bool> {
        let q = query("SELECT 1 FROM data_sources WHERE id = $1").bind(id);
        Ok(B::fetch_optional(&mut self.0, q).await?.is_some())
    }

    /// The names among `names` that name no tag here (deleted or not).
    pub(super) async fn unknown_tags(&mut self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT name FROM tags WHERE name IN ({})",
            B::DIALECT.each(1, Ty::Text)
        );
        let rows = B::fetch_all(&mut self.0, query(sql).bind(names.to_vec())).await?;
        let known = rows
            .iter()
            .map(|r| r.text("name"))
            .collect::<Result<std::collections::HashSet<String>>>()?;
        Ok(names
            .iter()
            .filter(|n| !known.contains(*n))
            .cloned()
            .collect())
    }

    /// Stores the data source with its columns, tags and owners (every
    /// owner must be a user here: NotFound otherwise), replacing them
    /// (`exists`). A new one links the subscriptions of its name that
    /// name none, as registering it does.
    pub(super) async fn put_data_source(&mut self, s: &DataSource, exists: bool) -> Result<()> {
        if exists {
            for table in [
                "data_source_columns",
                "data_source_tags",
                "data_source_owners",
            ] {
                let sql = format!("DELETE FROM {table} WHERE data_source_id = $1");
                B::execute(&mut self.0, query(sql).bind(s.id)).await?;
            }
            let q = query("UPDATE data_sources SET name = $2, created = $3 WHERE id = $1");
            B::execute(&mut self.0, q.bind(s.id).bind(&s.name).bind(s.created))
                .await
                .map_err(|e| unique(e, "data_sources_name"))?;
        } else {
            let q = query("INSERT INTO data_sources (id, name, created) VALUES ($1, $2, $3)");
            B::execute(&mut self.0, q.bind(s.id).bind(&s.name).bind(s.created))
                .await
                .map_err(|e| unique(e, "data_sources_name"))?;
            let q = query(
                "UPDATE subscriptions SET data_source_id = $1
                 WHERE data_source_id IS NULL AND data_source = $2",
            );
            B::execute(&mut self.0, q.bind(s.id).bind(&s.name)).await?;
        }
        insert_parts::<B>(&mut self.0, s).await
    }
}
