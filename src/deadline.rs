//! A request's deadline, shared between the HTTP layer that enforces it and
//! the writers that must not start work the request has already given up.
//! It never decides anything about time itself: the HTTP layer says when
//! the deadline passed; a writer says when its commit begins.
//!
//! The one rule: a request is either abandoned before any of its writes
//! begins committing (then none is applied and the client gets 503), or a
//! write has begun and the request is answered with what it did.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

const RUNNING: u8 = 0;
const WRITING: u8 = 1;
const EXPIRED: u8 = 2;

#[derive(Debug, Default)]
pub struct Deadline {
    state: AtomicU8,
}

tokio::task_local! {
    static CURRENT: Arc<Deadline>;
}

impl Deadline {
    pub fn new() -> Arc<Deadline> {
        Arc::new(Deadline::default())
    }

    /// The deadline of the request this task is serving, if any.
    pub fn current() -> Option<Arc<Deadline>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Runs `f` with this deadline as the current one.
    pub async fn scope<F: std::future::Future>(self: Arc<Self>, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// A write is about to run and commit: true if it may (the request has
    /// not been abandoned, and from now on will not be).
    pub fn begin_write(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, WRITING, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == WRITING,
        }
    }

    /// The deadline has passed: true if the request is now abandoned (no
    /// write of it has begun, and none will); false if a write is under
    /// way, so the request should be let finish.
    pub fn expire(&self) -> bool {
        match self
            .state
            .compare_exchange(RUNNING, EXPIRED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state == EXPIRED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_and_the_deadline_exclude_each_other() {
        let d = Deadline::new();
        assert!(d.begin_write());
        assert!(d.begin_write(), "further writes of the same request go on");
        assert!(!d.expire(), "a request that is writing is let finish");

        let d = Deadline::new();
        assert!(d.expire());
        assert!(d.expire());
        assert!(!d.begin_write(), "an abandoned request writes nothing");
    }

    #[tokio::test]
    async fn current_is_set_only_inside_the_scope() {
        assert!(Deadline::current().is_none());
        let d = Deadline::new();
        let inside = d
            .clone()
            .scope(async { Deadline::current().is_some() })
            .await;
        assert!(inside);
    }
}
