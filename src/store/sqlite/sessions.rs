//! SQLite: the admin console's sessions and pending sign-ins.

use super::*;
use crate::store::sessions::{PendingLogin, Session, Sessions};

#[async_trait]
impl Sessions for SqliteStore {
    async fn insert_session(&self, id_hash: &[u8], s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions \
             (id_hash, account_id, csrf, created, last_seen, token_generation) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(id_text(s.account_id))
        .bind(&s.csrf)
        .bind(micros(s.created))
        .bind(micros(s.last_seen))
        .bind(s.token_generation)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT account_id, csrf, created, last_seen, token_generation \
             FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|r| {
            Ok(Session {
                account_id: parse_uuid(r.try_get::<&str, _>("account_id")?)?,
                csrf: r.try_get("csrf")?,
                created: from_micros(r.try_get("created")?)?,
                last_seen: from_micros(r.try_get("last_seen")?)?,
                token_generation: r.try_get("token_generation")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2")
            .bind(micros(now))
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> Result<u64> {
        let mut tx = self.writer.begin_with(BEGIN_IMMEDIATE).await?;
        let n = sqlx::query("DELETE FROM console_sessions WHERE last_seen < $1 OR created < $2")
            .bind(micros(idle_before))
            .bind(micros(created_before))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM console_logins WHERE created < $1")
            .bind(micros(created_before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn insert_login(&self, state_hash: &[u8], l: &PendingLogin) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_logins (state_hash, nonce, verifier, created) VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash)
        .bind(&l.nonce)
        .bind(&l.verifier)
        .bind(micros(l.created))
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn take_login(&self, state_hash: &[u8]) -> Result<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM console_logins WHERE state_hash = $1 RETURNING nonce, verifier, created",
        )
        .bind(state_hash)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|r| {
            Ok(PendingLogin {
                nonce: r.try_get("nonce")?,
                verifier: r.try_get("verifier")?,
                created: from_micros(r.try_get("created")?)?,
            })
        })
        .transpose()
    }
}
