//! The store, written once: every read and write of users, groups,
//! members, accounts, IAMs, tokens, sessions and transfers, as SQL over
//! [`Dialect`] and [`Bind`], run through a [`Backend`]. The backends
//! (`super::sqlite`, `super::postgres`) hold only what truly differs.

pub(crate) mod accounts;
pub mod audit;
pub mod backend;
mod batch;
pub mod dialect;
mod events;
mod governance;
mod groups;
pub mod lists;
mod members;
pub mod nesting;
pub mod query;
mod sessions;
mod store;
mod transfer;
pub mod users;

use std::ops::Deref;

pub use backend::{Backend, unique};
pub use dialect::Dialect;
pub use query::{Bind, Col, Query, Record, Ty, query};

/// The one implementation of the storage traits, over a database.
pub struct SqlStore<B> {
    db: B,
}

impl<B> SqlStore<B> {
    pub fn new(db: B) -> Self {
        SqlStore { db }
    }
}

impl<B> Deref for SqlStore<B> {
    type Target = B;
    fn deref(&self) -> &B {
        &self.db
    }
}

impl<B: Backend> SqlStore<B> {
    /// Runs one statement as a write of its own.
    async fn write_one(&self, q: Query) -> crate::store::Result<u64> {
        let mut c = self.db.writer().await?;
        B::execute(&mut c, q).await
    }

    /// The rows of one read.
    async fn read_all(&self, q: Query) -> crate::store::Result<Vec<B::Row>> {
        let mut c = self.db.read().await?;
        B::fetch_all(&mut c, q).await
    }

    /// The rows of one list or report read, which a replica may serve
    /// (`Backend::scaled`).
    async fn scaled_all(&self, q: Query) -> crate::store::Result<Vec<B::Row>> {
        self.db.scaled(move |c| B::fetch_all(c, q.clone())).await
    }

    /// The one row of a read.
    async fn read_one(&self, q: Query) -> crate::store::Result<B::Row> {
        let mut c = self.db.read().await?;
        B::fetch_one(&mut c, q).await
    }

    /// The row of one read, if any.
    async fn read_optional(&self, q: Query) -> crate::store::Result<Option<B::Row>> {
        let mut c = self.db.read().await?;
        B::fetch_optional(&mut c, q).await
    }
}
