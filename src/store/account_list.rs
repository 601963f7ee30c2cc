//! The account list (console Users screen, admin API) as SQL for both
//! databases: one query shape per filter combination, so that each can use
//! an index that gives its order (migrations sqlite/0006, postgres/0007):
//! `(key, id)` over all IAMs, `(COALESCE(iam_id, deprovisioned_from), key,
//! id)` for one IAM. A page reads from a position (keyset) or, for an old
//! `page=N` address, skips rows. Totals of unfiltered lists come from the
//! kept per-IAM counts; a search's total is counted up to a cap.

use super::accounts::{AccountQuery, AccountSort};
use super::sql_filter::{Bind, Dialect};

/// A statement with `$n` placeholders and their values.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// The position a page starts from: the sort key and id of the row just
/// outside it (the last of the previous page, or the first of the next).
#[derive(Debug, Clone, PartialEq)]
pub struct AccountSeek {
    pub key: Bind,
    pub id: uuid::Uuid,
    /// The page ends just before the row (a "previous page"): rows come
    /// back in reverse order, nearest first.
    pub before: bool,
}

/// The column a sort orders by, as the index holds it.
pub fn sort_column(sort: AccountSort, dialect: Dialect) -> &'static str {
    match (sort, dialect) {
        (AccountSort::UserName, Dialect::Postgres) => "user_name_folded COLLATE \"C\"",
        (AccountSort::UserName, Dialect::Sqlite) => "user_name_folded",
        (AccountSort::Created, _) => "created",
        (AccountSort::LastModified, _) => "last_modified",
    }
}

/// The stored column holding a row's key for `sort` (to seek from it).
pub fn key_column(sort: AccountSort) -> &'static str {
    match sort {
        AccountSort::UserName => "user_name_folded",
        AccountSort::Created => "created",
        AccountSort::LastModified => "last_modified",
    }
}

struct Builder {
    dialect: Dialect,
    terms: Vec<String>,
    binds: Vec<Bind>,
}

impl Builder {
    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        format!("${}", self.binds.len())
    }
}

/// The WHERE terms of the query's filters (no position).
fn filters(q: &AccountQuery, dialect: Dialect) -> Builder {
    let mut b = Builder {
        dialect,
        terms: Vec::new(),
        binds: Vec::new(),
    };
    if !q.include_disabled {
        b.terms.push(match dialect {
            Dialect::Sqlite => "disabled = 0 AND deprovisioned IS NULL".to_owned(),
            Dialect::Postgres => "NOT disabled AND deprovisioned IS NULL".to_owned(),
        });
    }
    if let Some(iam) = q.iam {
        // The expression the per-IAM indexes are built on: an account
        // detached from its IAM still lists under it.
        let p = b.bind(Bind::Uuid(iam));
        b.terms
            .push(format!("COALESCE(iam_id, deprovisioned_from) = {p}"));
    }
    if let Some(s) = &q.search {
        let p = b.bind(Bind::Text(s.clone()));
        let f = match dialect {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        };
        b.terms.push(format!(
            "({f}(user_name_folded, {p}) > 0 OR {f}(COALESCE(display_name_folded, ''), {p}) > 0)"
        ));
    }
    if let Some(perm) = &q.permission {
        let p = b.bind(Bind::Text(perm.clone()));
        b.terms.push(format!(
            "EXISTS (SELECT 1 FROM user_permissions p WHERE p.user_id = users.id AND p.permission = {p})"
        ));
    }
    b
}

fn where_clause(terms: &[String]) -> String {
    if terms.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", terms.join(" AND "))
    }
}

/// The page: `columns` of the rows in order (reverse order when seeking
/// before a row), `limit` of them, from the position or after `offset`.
pub fn page(
    q: &AccountQuery,
    seek: Option<&AccountSeek>,
    columns: &str,
    dialect: Dialect,
) -> Statement {
    let mut b = filters(q, dialect);
    let col = sort_column(q.sort, b.dialect);
    // Reading backwards from a position reverses the order.
    let descending = q.descending != seek.is_some_and(|s| s.before);
    if let Some(s) = seek {
        let k = b.bind(s.key.clone());
        let i = b.bind(Bind::Uuid(s.id));
        let op = if descending { "<" } else { ">" };
        b.terms.push(format!("({col}, id) {op} ({k}, {i})"));
    }
    let dir = if descending { "DESC" } else { "ASC" };
    let limit = b.bind(Bind::Int(q.limit as i64));
    let mut sql = format!(
        "SELECT {columns} FROM users {} ORDER BY {col} {dir}, id {dir} LIMIT {limit}",
        where_clause(&b.terms)
    );
    if seek.is_none() && q.offset > 0 {
        let o = b.bind(Bind::Int(q.offset as i64));
        sql.push_str(&format!(" OFFSET {o}"));
    }
    Statement {
        sql,
        binds: b.binds,
    }
}

/// Whether the total can be read from the kept counts (no search, no
/// permission filter).
pub fn kept_total(q: &AccountQuery) -> bool {
    q.search.is_none() && q.permission.is_none()
}

/// The total of an unfiltered list from the kept per-IAM counts: accounts
/// of the IAM(s), plus detached ones when disabled accounts are included,
/// minus disabled ones when not (few, found through a partial index).
pub fn kept_total_statement(q: &AccountQuery, dialect: Dialect) -> Statement {
    let mut binds = Vec::new();
    let iam = q.iam.map(|i| {
        binds.push(Bind::Uuid(i));
        "$1"
    });
    let kept = match iam {
        Some(p) => format!(
            "SELECT COALESCE(SUM(n), 0) FROM resource_counts WHERE kind = 'User' AND iam_id = {p}"
        ),
        None => "SELECT COALESCE(SUM(n), 0) FROM resource_counts WHERE kind = 'User'".to_owned(),
    };
    let adjust = if q.include_disabled {
        match iam {
            Some(p) => format!(
                "+ (SELECT COUNT(*) FROM users WHERE iam_id IS NULL AND deprovisioned_from = {p})"
            ),
            None => "+ (SELECT COUNT(*) FROM users WHERE iam_id IS NULL)".to_owned(),
        }
    } else {
        let not_enabled = match dialect {
            Dialect::Sqlite => "(disabled <> 0 OR deprovisioned IS NOT NULL)",
            Dialect::Postgres => "(disabled OR deprovisioned IS NOT NULL)",
        };
        match iam {
            Some(p) => {
                format!("- (SELECT COUNT(*) FROM users WHERE {not_enabled} AND iam_id = {p})")
            }
            None => {
                format!("- (SELECT COUNT(*) FROM users WHERE {not_enabled} AND iam_id IS NOT NULL)")
            }
        }
    };
    let cast = match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => "::bigint",
    };
    Statement {
        sql: format!("SELECT (({kept}){cast} {adjust}){cast}"),
        binds,
    }
}

/// The number of matching rows, counted up to `cap + 1` when capped: a
/// search over a large directory stops counting early.
pub fn count_statement(q: &AccountQuery, cap: Option<u64>, dialect: Dialect) -> Statement {
    let mut b = filters(q, dialect);
    let sql = match cap {
        Some(c) => {
            let l = b.bind(Bind::Int(c as i64 + 1));
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM users {} LIMIT {l}) AS capped",
                where_clause(&b.terms)
            )
        }
        None => format!("SELECT COUNT(*) FROM users {}", where_clause(&b.terms)),
    };
    Statement {
        sql,
        binds: b.binds,
    }
}
