//! The account list (console Users screen, admin API) as SQL for both
//! databases: one query shape per filter combination, so that each can use
//! an index that gives its order (migrations sqlite/0006, postgres/0007):
//! `(key, id)` over all IAMs, `(COALESCE(iam_id, deprovisioned_from), key,
//! id)` for one IAM. A page reads from a position (keyset) or, for an old
//! `page=N` address, skips rows. Totals of unfiltered lists come from the
//! kept per-IAM counts; a search's total is counted up to a cap.
//!
//! A search (a substring of the folded userName or displayName) has two
//! plans. A common substring fills a page early while walking the list
//! index in order (`Walk`). A rare one would walk the whole index, so a
//! trigram index hands over the few rows that hold it, which are then
//! sorted (`Trigram`): FTS5 in SQLite (migration 0007), chosen by counting
//! the index's candidates up to `TRIGRAM_SORT_LIMIT` first; pg_trgm in
//! PostgreSQL (migration 0008), where `LIKE` lets the planner choose.

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

/// How a search finds its rows (see the module's comment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchPlan {
    /// Test each row of the list index in order.
    Walk,
    /// Take the rows the trigram index holds for the substring, then sort.
    Trigram,
}

/// The shortest substring a trigram index can look up.
pub const TRIGRAM_MIN_CHARS: usize = 3;

/// The most candidates a `Trigram` plan sorts; past it matches are common
/// enough that walking the list index fills a page sooner.
pub const TRIGRAM_SORT_LIMIT: u64 = 10_000;

/// SQLite: the statement counting the trigram index's candidates for a
/// search, up to `TRIGRAM_SORT_LIMIT + 1`; none when the search is too
/// short for the index (or there is no search). None on PostgreSQL, whose
/// planner chooses between the trigram and the list indexes itself.
pub fn trigram_probe(q: &AccountQuery, dialect: Dialect) -> Option<Statement> {
    if dialect == Dialect::Postgres {
        return None;
    }
    let s = q.search.as_deref()?;
    if s.chars().count() < TRIGRAM_MIN_CHARS {
        return None;
    }
    Some(Statement {
        sql:
            "SELECT COUNT(*) FROM (SELECT 1 FROM users_search WHERE users_search MATCH $1 LIMIT $2)"
                .to_owned(),
        binds: vec![
            Bind::Text(fts_phrase(s)),
            Bind::Int(TRIGRAM_SORT_LIMIT as i64 + 1),
        ],
    })
}

/// The plan for a search whose trigram probe counted `candidates`.
pub fn plan_for(candidates: Option<u64>) -> SearchPlan {
    match candidates {
        Some(n) if n <= TRIGRAM_SORT_LIMIT => SearchPlan::Trigram,
        _ => SearchPlan::Walk,
    }
}

/// An FTS5 phrase matching the text as it is (quotes doubled).
fn fts_phrase(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A `LIKE` pattern matching the text anywhere (`\` escapes the wildcards
/// and itself, PostgreSQL's default escape).
pub(crate) fn like_anywhere(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

struct Builder {
    dialect: Dialect,
    from: &'static str,
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
fn filters(q: &AccountQuery, dialect: Dialect, plan: SearchPlan) -> Builder {
    let mut b = Builder {
        dialect,
        from: "users",
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
        match dialect {
            Dialect::Postgres => {
                let p = b.bind(Bind::Text(like_anywhere(s)));
                b.terms.push(format!(
                    "(user_name_folded LIKE {p} OR display_name_folded LIKE {p})"
                ));
            }
            Dialect::Sqlite => {
                if plan == SearchPlan::Trigram {
                    // The index's rows drive the join (CROSS JOIN keeps
                    // that order); each is checked on the columns below.
                    b.from = "users_search CROSS JOIN users ON users.rowid = users_search.rowid";
                    let m = b.bind(Bind::Text(fts_phrase(s)));
                    b.terms.push(format!("users_search MATCH {m}"));
                }
                let p = b.bind(Bind::Text(s.clone()));
                b.terms.push(format!(
                    "(instr(user_name_folded, {p}) > 0 OR instr(COALESCE(display_name_folded, ''), {p}) > 0)"
                ));
            }
        }
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
    plan: SearchPlan,
) -> Statement {
    let mut b = filters(q, dialect, plan);
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
        "SELECT {columns} FROM {} {} ORDER BY {col} {dir}, id {dir} LIMIT {limit}",
        b.from,
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
pub fn count_statement(
    q: &AccountQuery,
    cap: Option<u64>,
    dialect: Dialect,
    plan: SearchPlan,
) -> Statement {
    let mut b = filters(q, dialect, plan);
    let sql = match cap {
        Some(c) => {
            let l = b.bind(Bind::Int(c as i64 + 1));
            format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {} {} LIMIT {l}) AS capped",
                b.from,
                where_clause(&b.terms)
            )
        }
        None => format!("SELECT COUNT(*) FROM {} {}", b.from, where_clause(&b.terms)),
    };
    Statement {
        sql,
        binds: b.binds,
    }
}
