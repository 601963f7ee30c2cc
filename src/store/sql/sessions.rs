//! The admin console's sessions and pending sign-ins.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{Backend, Record, SqlStore, query};
use crate::store::Result;
use crate::store::sessions::{PendingLogin, Session, Sessions};

#[async_trait]
impl<B: Backend> Sessions for SqlStore<B> {
    async fn insert_session(&self, id_hash: &[u8], s: &Session) -> Result<()> {
        self.write_one(
            query(
                "INSERT INTO console_sessions \
                 (id_hash, account_id, csrf, created, last_seen, token_generation) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id_hash)
            .bind(s.account_id)
            .bind(&s.csrf)
            .bind(s.created)
            .bind(s.last_seen)
            .bind(s.token_generation),
        )
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<Session>> {
        let row = self
            .read_optional(
                query(
                    "SELECT account_id, csrf, created, last_seen, token_generation \
                     FROM console_sessions WHERE id_hash = $1",
                )
                .bind(id_hash),
            )
            .await?;
        row.map(|r| {
            Ok(Session {
                account_id: r.uuid("account_id")?,
                csrf: r.text("csrf")?,
                created: r.time("created")?,
                last_seen: r.time("last_seen")?,
                token_generation: r.int("token_generation")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> Result<()> {
        self.write_one(
            query("UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2")
                .bind(now)
                .bind(id_hash),
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        self.write_one(query("DELETE FROM console_sessions WHERE id_hash = $1").bind(id_hash))
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> Result<u64> {
        let mut tx = self.begin().await?;
        let n = B::execute(
            &mut tx,
            query("DELETE FROM console_sessions WHERE last_seen < $1 OR created < $2")
                .bind(idle_before)
                .bind(created_before),
        )
        .await?;
        B::execute(
            &mut tx,
            query("DELETE FROM console_logins WHERE created < $1").bind(created_before),
        )
        .await?;
        B::commit(tx).await?;
        Ok(n)
    }

    async fn insert_login(&self, state_hash: &[u8], l: &PendingLogin) -> Result<()> {
        self.write_one(
            query(
                "INSERT INTO console_logins (state_hash, nonce, verifier, created) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(state_hash)
            .bind(&l.nonce)
            .bind(&l.verifier)
            .bind(l.created),
        )
        .await?;
        Ok(())
    }

    async fn take_login(&self, state_hash: &[u8]) -> Result<Option<PendingLogin>> {
        let mut c = self.writer().await?;
        let row = B::fetch_optional(
            &mut c,
            query(
                "DELETE FROM console_logins WHERE state_hash = $1 \
                 RETURNING nonce, verifier, created",
            )
            .bind(state_hash),
        )
        .await?;
        row.map(|r| {
            Ok(PendingLogin {
                nonce: r.text("nonce")?,
                verifier: r.text("verifier")?,
                created: r.time("created")?,
            })
        })
        .transpose()
    }
}
