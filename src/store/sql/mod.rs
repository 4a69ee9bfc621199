//! The store, written once. Each backend provides a handful of primitives —
//! run a statement, read rows, open a transaction (the [`Db`] and [`Tx`]
//! traits) — and everything that differs only in SQL dialect is written here,
//! once, on top of them, as blanket implementations of the store's role traits.
//! Statements use `$1..$n` placeholders (SQLite reads them as `?1..?n`); the few
//! fragments that truly differ (list membership, JSON, collation) come from
//! [`Dialect`]. What is not dialect — claiming and leases, lock order, bulk
//! writes, connection set-up — stays in each backend.

mod accounts;
pub mod bulk;
pub mod decode;
mod desktops;
mod jobs;
mod nodes;
mod pools;
pub mod settle;
mod sim;
mod users;

use super::{Completion, Holder, StoreResult};
use crate::domain::ids::{DesktopId, JobId, PoolId, ProjectId, SubJobId, UserId};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::future::Future;

/// The SQL dialect of a backend, for the few fragments that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite 3.4x.
    Sqlite,
    /// PostgreSQL 12+.
    Postgres,
}

impl Dialect {
    /// `col` ordered by bytes, as SQLite orders text, whatever PostgreSQL's locale.
    #[must_use]
    pub fn collated(self, col: &str) -> String {
        match self {
            Dialect::Sqlite => col.to_owned(),
            Dialect::Postgres => format!("{col} COLLATE \"C\""),
        }
    }

    /// Whether `needle` occurs in `haystack` (two SQL expressions), exactly.
    #[must_use]
    pub fn contains_exactly(self, haystack: &str, needle: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Dialect::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }

    /// The suffix that locks the rows a SELECT reads until the transaction ends
    /// (SQLite's one writer already excludes every other writer).
    #[must_use]
    pub const fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// A bound value. Nulls are typed: PostgreSQL must know a parameter's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// BIGINT / INTEGER.
    Int(Option<i64>),
    /// TEXT.
    Text(Option<Cow<'a, str>>),
    /// BOOLEAN (SQLite: 0/1).
    Bool(Option<bool>),
    /// BYTEA / BLOB.
    Blob(Option<Cow<'a, [u8]>>),
    /// A list of texts, for `= ANY($n)` on PostgreSQL (SQLite's lists are
    /// expanded by [`Sql::in_list`] instead).
    Texts(Vec<Cow<'a, str>>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value<'_> {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(Some(v))
    }
}

impl From<Option<bool>> for Value<'_> {
    fn from(v: Option<bool>) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(v)))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(Some(Cow::Borrowed(v)))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Some(Cow::Owned(v)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Value::Text(v.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Value::Text(v.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Value<'_> {
    fn from(v: Option<String>) -> Self {
        Value::Text(v.map(Cow::Owned))
    }
}

impl<'a> From<&'a [u8]> for Value<'a> {
    fn from(v: &'a [u8]) -> Self {
        Value::Blob(Some(Cow::Borrowed(v)))
    }
}

/// Ids bind as their text (UUIDs hyphenated, as stored).
macro_rules! id_values {
    ($($id:ty),+) => {$(
        impl From<&$id> for Value<'_> {
            fn from(v: &$id) -> Self {
                Value::Text(Some(Cow::Owned(v.to_string())))
            }
        }
        impl From<$id> for Value<'_> {
            fn from(v: $id) -> Self {
                Value::Text(Some(Cow::Owned(v.to_string())))
            }
        }
        impl From<Option<$id>> for Value<'_> {
            fn from(v: Option<$id>) -> Self {
                Value::Text(v.map(|v| Cow::Owned(v.to_string())))
            }
        }
        impl From<Option<&$id>> for Value<'_> {
            fn from(v: Option<&$id>) -> Self {
                Value::Text(v.map(|v| Cow::Owned(v.to_string())))
            }
        }
        impl From<&Option<$id>> for Value<'_> {
            fn from(v: &Option<$id>) -> Self {
                Value::Text(v.as_ref().map(|v| Cow::Owned(v.to_string())))
            }
        }
    )+};
}
id_values!(DesktopId, JobId, SubJobId, PoolId, UserId);

impl<'a> From<&'a ProjectId> for Value<'a> {
    fn from(v: &'a ProjectId) -> Self {
        Value::Text(Some(Cow::Borrowed(v.as_str())))
    }
}

impl<'a> From<Option<&'a ProjectId>> for Value<'a> {
    fn from(v: Option<&'a ProjectId>) -> Self {
        Value::Text(v.map(|v| Cow::Borrowed(v.as_str())))
    }
}

/// Values stored as JSON text; `None` is NULL.
macro_rules! json_values {
    ($($t:ty),+) => {$(
        impl From<&$t> for Value<'_> {
            fn from(v: &$t) -> Self {
                json(v)
            }
        }
        impl From<&Option<$t>> for Value<'_> {
            fn from(v: &Option<$t>) -> Self {
                v.as_ref().map_or(Value::Text(None), json)
            }
        }
    )+};
}
json_values!(
    crate::domain::desktop::Disk,
    Vec<crate::domain::desktop::Disk>,
    Vec<crate::domain::desktop::Tag>,
    crate::domain::pool::AutoscalePolicy
);

impl From<crate::domain::desktop::LoginStatus> for Value<'_> {
    fn from(v: crate::domain::desktop::LoginStatus) -> Self {
        Value::Text(Some(Cow::Borrowed(v.as_str())))
    }
}

impl From<&crate::domain::job::JobParams> for Value<'_> {
    fn from(v: &crate::domain::job::JobParams) -> Self {
        Value::Text(Some(Cow::Owned(v.encode())))
    }
}

/// A value stored as JSON text (volumes, tags, policies, job parameters).
pub fn json<T: serde::Serialize>(v: &T) -> Value<'static> {
    Value::Text(Some(Cow::Owned(
        serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned()),
    )))
}

/// A statement and its arguments.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// The SQL, with `$1..$n` placeholders.
    pub sql: Cow<'a, str>,
    /// One value per placeholder, in order.
    pub args: Vec<Value<'a>>,
}

/// A fixed statement: `q!(SQL; a, b)` binds `a` to `$1`, `b` to `$2`.
macro_rules! q {
    ($sql:expr $(; $($arg:expr),* $(,)?)?) => {
        $crate::store::sql::Query {
            sql: ::std::borrow::Cow::Borrowed($sql),
            args: vec![$($($crate::store::sql::Value::from($arg)),*)?],
        }
    };
}
pub(crate) use q;

/// A statement built piece by piece (filters, lists), in one dialect.
#[derive(Debug, Clone)]
pub struct Sql<'a> {
    dialect: Dialect,
    text: String,
    args: Vec<Value<'a>>,
}

impl<'a> Sql<'a> {
    /// Starts with `head`.
    #[must_use]
    pub fn new(dialect: Dialect, head: &str) -> Self {
        Self {
            dialect,
            text: head.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `v`.
    pub fn bind(&mut self, v: impl Into<Value<'a>>) -> &mut Self {
        self.args.push(v.into());
        let n = self.args.len();
        self.text.push('$');
        self.text.push_str(&n.to_string());
        self
    }

    /// Appends ` IN (...)` (SQLite) or ` = ANY($n)` (PostgreSQL) for `values`;
    /// an empty list matches nothing.
    pub fn in_list<I, S>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Cow<'a, str>>,
    {
        let values: Vec<Cow<'a, str>> = values.into_iter().map(Into::into).collect();
        match self.dialect {
            Dialect::Postgres => {
                self.push(" = ANY(");
                self.args.push(Value::Texts(values));
                let n = self.args.len();
                let _ = write!(self.text, "${n}::text[])");
            }
            Dialect::Sqlite if values.is_empty() => {
                self.push(" IN (NULL)");
            }
            Dialect::Sqlite => {
                self.push(" IN (");
                for (i, v) in values.into_iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.bind(Value::Text(Some(v)));
                }
                self.push(")");
            }
        }
        self
    }

    /// Appends ` AND col` matching `needle` as a substring, ASCII case ignored
    /// (SQLite's LIKE; on PostgreSQL ILIKE in the "C" collation, which folds
    /// ASCII letters only, as SQLite does).
    pub fn and_contains(&mut self, col: &str, needle: &str) -> &mut Self {
        let test = match self.dialect {
            Dialect::Sqlite => format!("{col} LIKE"),
            Dialect::Postgres => format!("{col} COLLATE \"C\" ILIKE"),
        };
        self.push(&format!(" AND {test} "));
        self.bind(format!("%{}%", escape_like(needle)));
        self.push(" ESCAPE '\\'")
    }

    /// Appends ` LIMIT $n OFFSET $m`.
    pub fn page(&mut self, limit: i64, offset: i64) -> &mut Self {
        self.push(" LIMIT ");
        self.bind(limit);
        self.push(" OFFSET ");
        self.bind(offset)
    }

    /// The dialect it is built in.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The finished statement.
    #[must_use]
    pub fn query(self) -> Query<'a> {
        Query {
            sql: Cow::Owned(self.text),
            args: self.args,
        }
    }
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
#[must_use]
pub fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One row of a result, whatever the driver: columns read by position.
pub trait Row {
    /// An integer column.
    fn int(&self, i: usize) -> StoreResult<i64>;
    /// A nullable integer column.
    fn opt_int(&self, i: usize) -> StoreResult<Option<i64>>;
    /// A text column.
    fn text(&self, i: usize) -> StoreResult<String>;
    /// A nullable text column.
    fn opt_text(&self, i: usize) -> StoreResult<Option<String>>;
    /// A boolean column (SQLite: 0/1).
    fn boolean(&self, i: usize) -> StoreResult<bool>;
    /// A blob column.
    fn blob(&self, i: usize) -> StoreResult<Vec<u8>>;
}

/// Turns a row into a value.
pub type Decode<T> = fn(&dyn Row) -> StoreResult<T>;

/// Running statements: a backend's connection pool, or one of its transactions.
pub trait Exec: Send {
    /// The rows of `q`, decoded.
    fn fetch<T: Send>(
        &mut self,
        q: Query<'_>,
        decode: Decode<T>,
    ) -> impl Future<Output = StoreResult<Vec<T>>> + Send;

    /// Runs `q`; the number of rows it changed.
    fn execute(&mut self, q: Query<'_>) -> impl Future<Output = StoreResult<u64>> + Send;

    /// The first row of `q`, if any.
    fn fetch_optional<T: Send>(
        &mut self,
        q: Query<'_>,
        decode: Decode<T>,
    ) -> impl Future<Output = StoreResult<Option<T>>> + Send {
        async move { Ok(self.fetch(q, decode).await?.into_iter().next()) }
    }

    /// The integer in the first column of the first row (a count, a sum).
    fn scalar(&mut self, q: Query<'_>) -> impl Future<Output = StoreResult<i64>> + Send {
        async move {
            let v = self.fetch(q, |r| r.opt_int(0)).await?;
            Ok(v.into_iter().next().flatten().unwrap_or(0))
        }
    }
}

/// A backend: where statements run and transactions begin.
pub trait Db: Send + Sync + 'static {
    /// A write transaction: rolled back when dropped uncommitted, leaving its
    /// connection clean for the next user.
    type Tx: bulk::Bulk;
    /// Reads outside a transaction (SQLite: a read-only connection).
    type Reader<'a>: Exec
    where
        Self: 'a;

    /// The backend's dialect.
    const DIALECT: Dialect;

    /// A statement builder in this dialect.
    fn sql<'a>(&self, head: &str) -> Sql<'a> {
        Sql::new(Self::DIALECT, head)
    }

    /// Something to read with, outside any transaction.
    fn reader(&self) -> Self::Reader<'_>;

    /// Begins a write transaction.
    fn begin(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// Commits `tx`.
    fn commit(tx: Self::Tx) -> impl Future<Output = StoreResult<()>> + Send;

    /// Records finished sub-jobs in a transaction of their own
    /// ([`settle::complete`]); returns how many were recorded.
    fn record_completions(
        &self,
        holder: &Holder,
        done: &[Completion],
        now_ms: i64,
    ) -> impl Future<Output = StoreResult<usize>> + Send {
        async move {
            if done.is_empty() {
                return Ok(0);
            }
            let mut tx = self.begin().await?;
            let n = settle::complete(&mut tx, &holder.incarnation, done, now_ms).await?;
            Self::commit(tx).await?;
            Ok(n)
        }
    }

    /// Runs one statement in a transaction of its own.
    fn write(&self, q: Query<'_>) -> impl Future<Output = StoreResult<u64>> + Send {
        async move {
            let mut tx = self.begin().await?;
            let n = tx.execute(q).await?;
            Self::commit(tx).await?;
            Ok(n)
        }
    }
}
