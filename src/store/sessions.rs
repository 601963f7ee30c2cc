//! What the admin console keeps between requests: server-side sessions
//! (known by the hash of their cookie's id) and pending OIDC sign-ins
//! (known by the hash of their `state`). Kept in the database so that
//! every replica sharing it serves every session.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::Result;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub account_id: Uuid,
    /// The token every state-changing request of this session must carry.
    pub csrf: String,
    pub created: OffsetDateTime,
    pub last_seen: OffsetDateTime,
    /// The account's token generation at sign-in: a session from an older
    /// one was revoked (see `Lifecycle::revoke_sessions`).
    pub token_generation: i64,
}

/// A sign-in at the identity provider, between redirect and return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub nonce: String,
    pub verifier: String,
    pub created: OffsetDateTime,
}

#[async_trait]
pub trait Sessions: Send + Sync {
    async fn insert_session(&self, id_hash: &[u8], session: &Session) -> Result<()>;
    async fn session(&self, id_hash: &[u8]) -> Result<Option<Session>>;
    async fn touch_session(&self, id_hash: &[u8], now: OffsetDateTime) -> Result<()>;
    async fn delete_session(&self, id_hash: &[u8]) -> Result<()>;
    /// Removes sessions idle since before `idle_before` or created before
    /// `created_before`, and sign-ins started before `created_before`.
    async fn delete_expired_sessions(
        &self,
        idle_before: OffsetDateTime,
        created_before: OffsetDateTime,
    ) -> Result<u64>;
    async fn insert_login(&self, state_hash: &[u8], login: &PendingLogin) -> Result<()>;
    /// The pending sign-in, removed: a `state` is good for one return.
    async fn take_login(&self, state_hash: &[u8]) -> Result<Option<PendingLogin>>;
}
