//! A statement under construction for whichever backend runs it. Builder
//! functions write SQL once against [`Sql`]; `sqlx::QueryBuilder` writes each
//! database's placeholders (`?` or `$n`) as values are bound, so a value can
//! never be bound to the wrong placeholder.

use std::fmt::Display;

use sqlx::{Encode, Postgres, QueryBuilder, Sqlite, Type};

/// Where the backends' SQL differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A JSON column as text.
    pub fn json_text(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => column.to_owned(),
            Dialect::Postgres => format!("{column}::text"),
        }
    }

    /// An id column as a check reads it: on SQLite, whose BLOB column takes
    /// anything, a value that is not 16 bytes reads as the nil id (the check
    /// then reports its record or link, where decoding it failed the check).
    pub fn checked_id(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!(
                    "CASE WHEN typeof({column}) = 'blob' AND length({column}) = 16 THEN {column} ELSE zeroblob(16) END"
                )
            }
            Dialect::Postgres => column.to_owned(),
        }
    }

    /// The larger of two values.
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "max",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// The tables that hold records: SQLite stages recent commits in a second
    /// table (migration `recent_events`); a record is in exactly one of them.
    /// The column that orders a record table as received: SQLite's rowid
    /// (`seq`, assigned on insert and kept in order when staged records
    /// move), PostgreSQL's UUIDv7 `id` (made from the clock at ingest).
    pub fn position(self) -> &'static str {
        match self {
            Dialect::Sqlite => "seq",
            Dialect::Postgres => "id",
        }
    }

    pub fn record_tables(self) -> &'static [&'static str] {
        match self {
            Dialect::Sqlite => &["events", "events_recent"],
            Dialect::Postgres => &["events"],
        }
    }
}

/// A value both backends can bind.
pub trait Bindable<'a>: 'a + Encode<'a, Sqlite> + Type<Sqlite> + Encode<'a, Postgres> + Type<Postgres> {}

impl<'a, T> Bindable<'a> for T where T: 'a + Encode<'a, Sqlite> + Type<Sqlite> + Encode<'a, Postgres> + Type<Postgres> {}

/// The builder of the backend a statement is for; values bound live for `'a`.
pub enum Sql<'s, 'a> {
    Sqlite(&'s mut QueryBuilder<'a, Sqlite>),
    Postgres(&'s mut QueryBuilder<'a, Postgres>),
}

impl<'a> Sql<'_, 'a> {
    pub fn dialect(&self) -> Dialect {
        match self {
            Sql::Sqlite(_) => Dialect::Sqlite,
            Sql::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: impl Display) -> &mut Self {
        match self {
            Sql::Sqlite(q) => _ = q.push(sql),
            Sql::Postgres(q) => _ = q.push(sql),
        }
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Bindable<'a>) -> &mut Self {
        match self {
            Sql::Sqlite(q) => _ = q.push_bind(value),
            Sql::Postgres(q) => _ = q.push_bind(value),
        }
        self
    }

    /// Appends `items`, each written by `each`, separated by `separator`.
    pub fn join<T>(
        &mut self,
        items: impl IntoIterator<Item = T>,
        separator: &str,
        mut each: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.push(separator);
            }
            each(self, item);
        }
        self
    }
}

/// The statement `build` writes, for SQLite.
pub fn for_sqlite<'a>(build: impl for<'s> FnOnce(&mut Sql<'s, 'a>)) -> QueryBuilder<'a, Sqlite> {
    let mut query = QueryBuilder::new("");
    build(&mut Sql::Sqlite(&mut query));
    query
}

/// The statement `build` writes, for PostgreSQL.
pub fn for_postgres<'a>(build: impl for<'s> FnOnce(&mut Sql<'s, 'a>)) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new("");
    build(&mut Sql::Postgres(&mut query));
    query
}

/// The text a builder writes for `dialect`, for unit tests of builders.
#[cfg(test)]
pub fn sql_of<'a>(dialect: Dialect, build: impl for<'s> FnOnce(&mut Sql<'s, 'a>)) -> String {
    match dialect {
        Dialect::Sqlite => for_sqlite(build).into_sql(),
        Dialect::Postgres => for_postgres(build).into_sql(),
    }
}

/// `items` in chunks whose lengths are powers of two (`max` at most, itself
/// one), largest first: statements of few distinct shapes, so a connection's
/// cache of prepared statements is not churned by one shape per length.
pub fn power_of_two_chunks<T>(mut items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let cap = items.len().min(max);
        let (chunk, rest) = items.split_at(1 << (usize::BITS - 1 - cap.leading_zeros()));
        items = rest;
        Some(chunk)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_gets_its_own_placeholders() {
        let build = |q: &mut Sql<'_, '_>| {
            q.push("a = ").bind(1_i64).push(" AND b IN (").join(["x", "y"], ", ", |q, v| {
                q.bind(v);
            });
            q.push(")");
        };
        assert_eq!(sql_of(Dialect::Sqlite, build), "a = ? AND b IN (?, ?)");
        assert_eq!(sql_of(Dialect::Postgres, build), "a = $1 AND b IN ($2, $3)");
    }

    #[test]
    fn chunks_are_powers_of_two_up_to_the_maximum() {
        let items: Vec<u32> = (0..1_300).collect();
        let lengths: Vec<usize> = power_of_two_chunks(&items, 512).map(<[u32]>::len).collect();
        assert_eq!(lengths, [512, 512, 256, 16, 4]);
        assert_eq!(power_of_two_chunks(&items[..0], 512).count(), 0);
    }
}
