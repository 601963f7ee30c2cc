//! The few places where the two databases' SQL differs, as fragments the
//! shared statements splice in: row and advisory locks, and lists bound as
//! one value (a JSON array read by `json_each` in SQLite, an array read by
//! `unnest` in PostgreSQL).

pub use super::super::sql_filter::Dialect;
use super::query::Ty;

impl Dialect {
    /// Appended to a SELECT that must lock the rows it reads until the
    /// transaction ends. SQLite's one writer already excludes the others.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Placed after a table in FROM: the index SQLite must use for it.
    /// SQLite plans without statistics (nothing here runs ANALYZE), and
    /// then prefers a WITHOUT ROWID table's primary key to a partial
    /// index that holds a small part of the rows; PostgreSQL, which
    /// keeps statistics, chooses for itself.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// A statement that takes the transaction-scoped lock of class `$1`
    /// and key `$2` (both binding an `i64` that fits in 32 bits), held
    /// until the transaction ends. None in SQLite, which needs none: its
    /// one writer already runs write transactions one at a time.
    pub fn xact_lock(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT pg_advisory_xact_lock($1::int4, $2::int4)"),
        }
    }

    /// Two writes as one statement, one round trip to the database:
    /// `first`, then `then`. PostgreSQL prepares one command at a time, so
    /// there `first` is a data-modifying WITH (which always runs to
    /// completion, read or not); SQLite has none, and runs the statements
    /// of one string in turn (sqlx binds each one's `$n` by number).
    pub fn together(self, first: &str, then: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{first}; {then}"),
            Dialect::Postgres => format!("WITH moved AS ({first}) {then}"),
        }
    }

    /// A subquery of the values of list parameter `$n`, for `IN (...)`.
    pub fn each(self, n: usize, ty: Ty) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each(${n})"),
            Dialect::Postgres => format!("SELECT unnest(${n}::{}[])", pg_type(ty)),
        }
    }

    /// A FROM item `t` whose rows are those of the [`Bind::Columns`]
    /// bound at `$first`, its columns named and typed by `cols`:
    /// `INSERT ... SELECT t.a, t.b FROM {rows}`. It must be the statement's
    /// last placeholder: PostgreSQL binds one array per column
    /// (`$first`, `$first+1`, ...), SQLite one JSON array of rows.
    ///
    /// [`Bind::Columns`]: super::query::Bind::Columns
    pub fn rows(self, first: usize, cols: &[(&str, Ty)]) -> String {
        match self {
            Dialect::Sqlite => {
                let select: Vec<String> = cols
                    .iter()
                    .enumerate()
                    .map(|(i, (name, _))| format!("value ->> {i} AS {name}"))
                    .collect();
                format!(
                    "(SELECT {} FROM json_each(${first})) AS t",
                    select.join(", ")
                )
            }
            Dialect::Postgres => {
                let lists: Vec<String> = cols
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| format!("${}::{}[]", first + i, pg_type(*ty)))
                    .collect();
                let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
                format!("unnest({}) AS t ({})", lists.join(", "), names.join(", "))
            }
        }
    }

    /// The one-row case of [`Dialect::rows`], without a list to unpack:
    /// a FROM item `t` whose columns are the parameters `$first`,
    /// `$first+1`, ... (bound as a [`Bind::Row`]), named and typed by
    /// `cols`. Most writes append one audit record; SQLite would otherwise
    /// parse a JSON array and read each column out of it.
    ///
    /// [`Bind::Row`]: super::query::Bind::Row
    pub fn row(self, first: usize, cols: &[(&str, Ty)]) -> String {
        let select: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| match self {
                Dialect::Sqlite => format!("${} AS {name}", first + i),
                Dialect::Postgres => format!("${}::{} AS {name}", first + i, pg_type(*ty)),
            })
            .collect();
        format!("(SELECT {}) AS t", select.join(", "))
    }

    /// A statement that holds transaction lock `key` until the transaction
    /// ends, so that the writes taking it run one at a time across
    /// replicas (PostgreSQL's advisory lock). None on SQLite: its one
    /// writer already runs write transactions one at a time.
    pub fn xact_lock_on(self, key: i64) -> Option<String> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some(format!("SELECT pg_advisory_xact_lock({key})")),
        }
    }

    /// The shard of a counter row this connection adds to: concurrent
    /// PostgreSQL writers add to different rows of one counter rather than
    /// wait on one. SQLite's one writer needs one row.
    pub fn counter_shard(self) -> &'static str {
        match self {
            Dialect::Sqlite => "0",
            Dialect::Postgres => "pg_backend_pid() % 16",
        }
    }

    /// Parameter `$n`, a day bound as its `YYYY-MM-DD` text, as a day
    /// column holds it (that text in SQLite, a date in PostgreSQL).
    pub fn day(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("${n}"),
            Dialect::Postgres => format!("${n}::date"),
        }
    }

    /// A day column as its `YYYY-MM-DD` text.
    pub fn day_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("to_char({column}, 'YYYY-MM-DD')"),
        }
    }

    /// Appended to an ORDER BY term of text so that it sorts byte by byte,
    /// as SQLite always does (PostgreSQL would use the database's locale).
    pub fn bytewise(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
        }
    }

    /// A one-row query whose `writable` column says whether this database
    /// takes writes (a PostgreSQL standby, or a primary a failover is
    /// demoting, is read-only; SQLite always takes them).
    pub fn writable_probe(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT 1 AS writable",
            Dialect::Postgres => {
                "SELECT current_setting('transaction_read_only') = 'off' AS writable"
            }
        }
    }

    /// What asks for a statement's plan, and the column of each line of
    /// the answer.
    pub fn explain(self) -> (&'static str, usize) {
        match self {
            Dialect::Sqlite => ("EXPLAIN QUERY PLAN", 3),
            Dialect::Postgres => ("EXPLAIN", 0),
        }
    }

    /// A true/false column as a condition (SQLite stores 0 and 1).
    pub fn is_true(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} <> 0"),
            Dialect::Postgres => column.to_owned(),
        }
    }
}

fn pg_type(ty: Ty) -> &'static str {
    match ty {
        Ty::Text => "text",
        Ty::Uuid => "uuid",
        Ty::Int => "bigint",
        Ty::Bool => "boolean",
        Ty::Time => "timestamptz",
        Ty::Bytes => "bytea",
        Ty::Json => "jsonb",
    }
}
