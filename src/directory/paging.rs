//! Which page a list request names — by `startIndex` (RFC 7644) or by
//! `cursor` (RFC 9865) — and the cursors its answer carries. Cursors are
//! keyset positions: a page deep in the list costs what the first does.

use super::cursor::{self, CursorKey, Fingerprint};
use super::{Directory, Error, Result, Scope};
use crate::store::{ListPage, Seek, Sort, Window};

/// The page a list request asks for. `startIndex`/`count` as RFC 7644
/// §3.4.2.4 has them: 1-based, values below 1 are read as 1, negative
/// counts as 0, counts capped at the maximum. With `cursor` (an empty one
/// starts), the page continues from a position instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    pub start_index: u64,
    pub count: u64,
    pub cursor: Option<String>,
}

impl Paging {
    pub fn new(start_index: Option<i64>, count: Option<i64>, max: u32) -> Self {
        Paging {
            start_index: start_index.unwrap_or(1).max(1) as u64,
            count: count.unwrap_or(max as i64).clamp(0, max as i64) as u64,
            cursor: None,
        }
    }

    /// The page of a request's parameters; `startIndex` and `cursor` name
    /// two ways of paging, so a request may use only one.
    pub fn parse(
        start_index: Option<i64>,
        count: Option<i64>,
        cursor: Option<&str>,
        max: u32,
    ) -> Result<Self> {
        match cursor {
            None => Ok(Paging::new(start_index, count, max)),
            Some(_) if start_index.is_some() => Err(Error::invalid_value(
                "startIndex and cursor select two different ways of paging: send startIndex \
                 for index pagination or cursor for cursor pagination, not both",
            )),
            Some(c) => Ok(Paging {
                cursor: Some(c.trim().to_owned()),
                ..Paging::new(None, count, max)
            }),
        }
    }
}

/// The `ListResponse` parts a list operation returns.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub total: u64,
    /// Index pagination only.
    pub start_index: Option<u64>,
    pub resources: Vec<serde_json::Value>,
    /// Cursor pagination: left out on the last page.
    pub next_cursor: Option<String>,
    /// Cursor pagination: left out on the first page.
    pub previous_cursor: Option<String>,
    /// The groups whose members the response body streams after their
    /// documents (which do not hold them).
    pub members: Option<super::stream::MemberLists>,
}

/// How a list is read, and what its answer's cursors are bound to.
pub(super) struct PagePlan {
    pub window: Window,
    /// A cursor page: the total its walk counted on the first page.
    pub known_total: Option<u64>,
    cursor: Option<CursorPlan>,
}

struct CursorPlan {
    key: CursorKey,
    fingerprint: Fingerprint,
    requested: Option<Seek>,
}

impl Directory {
    /// The window a request reads; checks its cursor, if any.
    pub(super) async fn plan_page(
        &self,
        scope: &Scope,
        resource_type: &str,
        filter: Option<&str>,
        sort_by: Option<&str>,
        sort: Option<&Sort>,
        paging: &Paging,
    ) -> Result<PagePlan> {
        let Some(text) = &paging.cursor else {
            return Ok(PagePlan {
                window: Window::Offset(paging.start_index - 1),
                known_total: None,
                cursor: None,
            });
        };
        let fingerprint = Fingerprint::new(
            resource_type,
            scope.iam.uuid(),
            filter,
            sort.and(sort_by),
            sort.is_some_and(|s| s.descending),
        );
        let key = self.cursor_key().await?;
        let (requested, known_total) = if text.is_empty() {
            (None, None)
        } else {
            let (seek, total) = cursor::decode(
                &key,
                &fingerprint,
                text,
                self.now(),
                self.limits.cursor_timeout_secs,
            )?;
            (Some(seek), total)
        };
        Ok(PagePlan {
            window: Window::Keyset(requested.clone()),
            known_total,
            cursor: Some(CursorPlan {
                key,
                fingerprint,
                requested,
            }),
        })
    }

    /// The answer to a list request: its resources and, paging by cursor,
    /// the cursors of the pages next to it.
    pub(super) fn page_result(
        &self,
        plan: &PagePlan,
        paging: &Paging,
        page: &ListPage,
        resources: Vec<serde_json::Value>,
    ) -> ListResult {
        let Some(c) = &plan.cursor else {
            return ListResult {
                total: page.total,
                start_index: Some(paging.start_index),
                resources,
                next_cursor: None,
                previous_cursor: None,
                members: None,
            };
        };
        // `count=0` asks for the total alone: no page, so no neighbours.
        let (next, previous) = if paging.count == 0 {
            (None, None)
        } else {
            cursor::neighbours(c.requested.as_ref(), page)
        };
        let now = self.now();
        let encode = |s: Seek| cursor::encode(&c.key, &c.fingerprint, &s, Some(page.total), now);
        ListResult {
            total: page.total,
            start_index: None,
            resources,
            next_cursor: next.map(encode),
            previous_cursor: previous.map(encode),
            members: None,
        }
    }

    async fn cursor_key(&self) -> Result<CursorKey> {
        Ok(CursorKey::derive(self.signing_key().await?))
    }
}
