//! PostgreSQL: the admin console's sessions and pending sign-ins, shared
//! by every replica on the database.

use super::*;
use crate::store::sessions::{PendingLogin, Session, Sessions};

#[async_trait]
impl Sessions for PgStore {
    async fn insert_session(&self, id_hash: &[u8], s: &Session) -> Result<()> {
        sqlx::query(
            "INSERT INTO console_sessions \
             (id_hash, account_id, csrf, created, last_seen, token_generation) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id_hash)
        .bind(s.account_id)
        .bind(&s.csrf)
        .bind(s.created)
        .bind(s.last_seen)
        .bind(s.token_generation)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<Session>> {
        let row = sqlx::query(
            "SELECT account_id, csrf, created, last_seen, token_generation \
             FROM console_sessions WHERE id_hash = $1",
        )
        .bind(id_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                account_id: r.try_get("account_id")?,
                csrf: r.try_get("csrf")?,
                created: r.try_get("created")?,
                last_seen: r.try_get("last_seen")?,
                token_generation: r.try_get("token_generation")?,
            })
        })
        .transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> Result<()> {
        sqlx::query("UPDATE console_sessions SET last_seen = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("DELETE FROM console_sessions WHERE last_seen < $1 OR created < $2")
            .bind(idle_before)
            .bind(created_before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM console_logins WHERE created < $1")
            .bind(created_before)
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
        .bind(l.created)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn take_login(&self, state_hash: &[u8]) -> Result<Option<PendingLogin>> {
        let row = sqlx::query(
            "DELETE FROM console_logins WHERE state_hash = $1 RETURNING nonce, verifier, created",
        )
        .bind(state_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(PendingLogin {
                nonce: r.try_get("nonce")?,
                verifier: r.try_get("verifier")?,
                created: r.try_get("created")?,
            })
        })
        .transpose()
    }
}
