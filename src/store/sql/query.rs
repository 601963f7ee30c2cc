//! A statement written once for both databases: SQL text with `$n`
//! placeholders (SQLite reads them as PostgreSQL does) and the values bound
//! to them, each a [`Bind`] that the backend encodes natively. A row comes
//! back as a [`Record`], read by the same typed getters on either backend.

use std::borrow::Cow;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::super::Result;
pub use super::super::sql_filter::{Bind, Ty};
use crate::ids::{DataSourceId, GroupId, IamId, UserId};

/// SQL text and the values of its placeholders, in order.
#[derive(Debug, Clone)]
pub struct Query {
    pub sql: Cow<'static, str>,
    pub binds: Vec<Bind>,
    /// Kept prepared on its connection (the default); see
    /// [`Query::planned_each_time`].
    pub persistent: bool,
}

/// A statement with no values bound yet.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        binds: Vec::new(),
        persistent: true,
    }
}

impl Query {
    /// Binds the next placeholder.
    pub fn bind(mut self, v: impl Into<Bind>) -> Self {
        self.binds.push(v.into());
        self
    }

    /// A statement whose text and values were built elsewhere (a filter).
    pub fn with(sql: impl Into<Cow<'static, str>>, binds: Vec<Bind>) -> Self {
        Query {
            sql: sql.into(),
            binds,
            persistent: true,
        }
    }

    /// Not kept prepared, so that PostgreSQL plans it for its values each
    /// time: after five runs of a prepared statement it may settle on one
    /// generic plan for all values, blind to how selective each is. SQLite
    /// plans no other way, and keeps its statements prepared regardless.
    pub fn planned_each_time(mut self) -> Self {
        self.persistent = false;
        self
    }
}

/// A column of a result row: its name, or its position.
pub trait Col:
    Column + sqlx::ColumnIndex<sqlx::postgres::PgRow> + Copy + std::fmt::Display + Send
{
}

impl<T> Col for T where
    T: Column + sqlx::ColumnIndex<sqlx::postgres::PgRow> + Copy + std::fmt::Display + Send
{
}

/// Where a column stands among a row's column names (how the SQLite
/// backend's rows find it).
pub trait Column {
    fn position(&self, columns: &[Box<str>]) -> Option<usize>;
}

impl Column for &str {
    fn position(&self, columns: &[Box<str>]) -> Option<usize> {
        columns.iter().position(|n| &**n == *self)
    }
}

impl Column for usize {
    fn position(&self, columns: &[Box<str>]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

/// A result row, read the same way whatever the database stores (an id is
/// TEXT in SQLite and uuid in PostgreSQL; a time INTEGER microseconds or
/// timestamptz; a document TEXT or jsonb).
pub trait Record: Send + Sync {
    fn opt_uuid(&self, c: impl Col) -> Result<Option<Uuid>>;
    fn opt_time(&self, c: impl Col) -> Result<Option<OffsetDateTime>>;
    fn opt_json(&self, c: impl Col) -> Result<Option<Value>>;
    fn opt_text(&self, c: impl Col) -> Result<Option<String>>;
    fn opt_int(&self, c: impl Col) -> Result<Option<i64>>;
    fn opt_bool(&self, c: impl Col) -> Result<Option<bool>>;
    fn opt_bytes(&self, c: impl Col) -> Result<Option<Vec<u8>>>;

    fn uuid(&self, c: impl Col) -> Result<Uuid> {
        self.opt_uuid(c)?.ok_or_else(|| null(c))
    }
    fn time(&self, c: impl Col) -> Result<OffsetDateTime> {
        self.opt_time(c)?.ok_or_else(|| null(c))
    }
    fn json(&self, c: impl Col) -> Result<Value> {
        self.opt_json(c)?.ok_or_else(|| null(c))
    }
    fn text(&self, c: impl Col) -> Result<String> {
        self.opt_text(c)?.ok_or_else(|| null(c))
    }
    fn int(&self, c: impl Col) -> Result<i64> {
        self.opt_int(c)?.ok_or_else(|| null(c))
    }
    fn bool(&self, c: impl Col) -> Result<bool> {
        self.opt_bool(c)?.ok_or_else(|| null(c))
    }
    fn bytes(&self, c: impl Col) -> Result<Vec<u8>> {
        self.opt_bytes(c)?.ok_or_else(|| null(c))
    }
}

/// The getters sqlx decodes alike for both databases, for a backend's
/// `impl Record` to include.
macro_rules! same_getters {
    () => {
        fn opt_text(&self, c: impl $crate::store::sql::Col) -> Result<Option<String>> {
            Ok(sqlx::Row::try_get(self, c)?)
        }
        fn opt_int(&self, c: impl $crate::store::sql::Col) -> Result<Option<i64>> {
            Ok(sqlx::Row::try_get(self, c)?)
        }
        fn opt_bool(&self, c: impl $crate::store::sql::Col) -> Result<Option<bool>> {
            Ok(sqlx::Row::try_get(self, c)?)
        }
        fn opt_bytes(&self, c: impl $crate::store::sql::Col) -> Result<Option<Vec<u8>>> {
            Ok(sqlx::Row::try_get(self, c)?)
        }
    };
}
pub(in crate::store) use same_getters;

fn null(c: impl Col) -> super::super::StoreError {
    super::super::StoreError::Corrupt(format!("column {c} is NULL"))
}

macro_rules! bind_from {
    ($t:ty, $v:ident, $e:expr, $ty:ident) => {
        impl From<$t> for Bind {
            fn from($v: $t) -> Bind {
                $e
            }
        }
        impl From<Option<$t>> for Bind {
            fn from(v: Option<$t>) -> Bind {
                match v {
                    Some($v) => $e,
                    None => Bind::Null(Ty::$ty),
                }
            }
        }
    };
}

bind_from!(String, v, Bind::Text(v), Text);
bind_from!(&str, v, Bind::Text(v.to_owned()), Text);
bind_from!(&String, v, Bind::Text(v.clone()), Text);
bind_from!(Uuid, v, Bind::Uuid(v), Uuid);
bind_from!(IamId, v, Bind::Uuid(v.uuid()), Uuid);
bind_from!(UserId, v, Bind::Uuid(v.uuid()), Uuid);
bind_from!(GroupId, v, Bind::Uuid(v.uuid()), Uuid);
bind_from!(DataSourceId, v, Bind::Uuid(v.uuid()), Uuid);
bind_from!(i64, v, Bind::Int(v), Int);
bind_from!(bool, v, Bind::Bool(v), Bool);
bind_from!(OffsetDateTime, v, Bind::Time(v), Time);
bind_from!(Vec<u8>, v, Bind::Bytes(v), Bytes);
bind_from!(&[u8], v, Bind::Bytes(v.to_vec()), Bytes);
bind_from!(Value, v, Bind::Json(v), Json);
bind_from!(&Value, v, Bind::Json(v.clone()), Json);

impl From<&Option<String>> for Bind {
    fn from(v: &Option<String>) -> Bind {
        v.as_deref().into()
    }
}

impl From<&Vec<u8>> for Bind {
    fn from(v: &Vec<u8>) -> Bind {
        Bind::Bytes(v.clone())
    }
}

impl From<Vec<Uuid>> for Bind {
    fn from(v: Vec<Uuid>) -> Bind {
        Bind::Uuids(v)
    }
}

impl From<&[Uuid]> for Bind {
    fn from(v: &[Uuid]) -> Bind {
        Bind::Uuids(v.to_vec())
    }
}

impl From<Vec<String>> for Bind {
    fn from(v: Vec<String>) -> Bind {
        Bind::Texts(v.into_iter().map(Some).collect())
    }
}

impl From<Vec<Option<String>>> for Bind {
    fn from(v: Vec<Option<String>>) -> Bind {
        Bind::Texts(v)
    }
}

impl From<Vec<Option<Uuid>>> for Bind {
    fn from(v: Vec<Option<Uuid>>) -> Bind {
        Bind::OptUuids(v)
    }
}

impl From<Vec<OffsetDateTime>> for Bind {
    fn from(v: Vec<OffsetDateTime>) -> Bind {
        Bind::Times(v)
    }
}

impl From<Vec<i64>> for Bind {
    fn from(v: Vec<i64>) -> Bind {
        Bind::Ints(v)
    }
}

impl From<Vec<Value>> for Bind {
    fn from(v: Vec<Value>) -> Bind {
        Bind::Jsons(v)
    }
}
