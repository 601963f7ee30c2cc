//! The few places where the two databases' SQL differs, as fragments the
//! shared statements splice in: row locks, and lists bound as one value
//! (a JSON array read by `json_each` in SQLite, an array read by `unnest`
//! in PostgreSQL).

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

    /// Appended to an ORDER BY term of text so that it sorts byte by byte,
    /// as SQLite always does (PostgreSQL would use the database's locale).
    pub fn bytewise(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " COLLATE \"C\"",
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
