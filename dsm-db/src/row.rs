//! Reading columns of the app's rows without trusting its schema: the app
//! may add a NULL where Outpost expects a value or change a column's type
//! in a migration. Every read goes through here and turns such a row into
//! a [`RowError`] naming the table, the column and (when known) the row,
//! never into a panic and never quoting the value.

use thiserror::Error;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;
use uuid::Uuid;

/// A column of a row that Outpost cannot read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("column {table}.{column}{} {problem}", row_label(.row))]
pub struct RowError {
    pub table: &'static str,
    pub column: &'static str,
    /// The id of the row, when it could be read.
    pub row: Option<Uuid>,
    pub problem: String,
}

fn row_label(row: &Option<Uuid>) -> String {
    row.map(|id| format!(" of row {id}")).unwrap_or_default()
}

/// Where a row comes from: its table and, once read, its id.
#[derive(Debug, Clone, Copy)]
pub struct At<'r> {
    row: &'r Row,
    table: &'static str,
    id: Option<Uuid>,
}

impl<'r> At<'r> {
    pub fn new(row: &'r Row, table: &'static str) -> At<'r> {
        At {
            row,
            table,
            id: None,
        }
    }

    /// The same row, now known by `id` (named in later errors).
    pub fn with_id(self, id: Uuid) -> At<'r> {
        At {
            id: Some(id),
            ..self
        }
    }

    fn error(&self, column: &'static str, problem: String) -> RowError {
        RowError {
            table: self.table,
            column,
            row: self.id,
            problem,
        }
    }

    /// Column `idx` (named `column` in errors), which may be NULL.
    pub fn opt<T: FromSql<'r>>(
        &self,
        idx: usize,
        column: &'static str,
    ) -> Result<Option<T>, RowError> {
        self.row.try_get::<_, Option<T>>(idx).map_err(|_| {
            let problem = match self.row.columns().get(idx) {
                Some(c) => format!(
                    "has type {} which Outpost cannot read as {}",
                    c.type_().name(),
                    short_type::<T>()
                ),
                None => "is missing from the answer".to_string(),
            };
            self.error(column, problem)
        })
    }

    /// Column `idx` (named `column` in errors), which must hold a value.
    pub fn get<T: FromSql<'r>>(&self, idx: usize, column: &'static str) -> Result<T, RowError> {
        self.opt(idx, column)?
            .ok_or_else(|| self.error(column, "is NULL".to_string()))
    }
}

/// `String` rather than `alloc::string::String`.
fn short_type<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::new();
    let mut word = String::new();
    for ch in full.chars() {
        if ch.is_alphanumeric() || ch == '_' || ch == ':' {
            word.push(ch);
        } else {
            out.push_str(word.rsplit("::").next().unwrap_or(""));
            word.clear();
            out.push(ch);
        }
    }
    out.push_str(word.rsplit("::").next().unwrap_or(""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_shortly() {
        assert_eq!(short_type::<String>(), "String");
        assert_eq!(short_type::<Vec<Uuid>>(), "Vec<Uuid>");
        assert_eq!(short_type::<i32>(), "i32");
    }

    #[test]
    fn the_error_names_table_column_and_row() {
        let e = RowError {
            table: "servers",
            column: "ip_address",
            row: Some(Uuid::nil()),
            problem: "is NULL".into(),
        };
        assert_eq!(
            e.to_string(),
            "column servers.ip_address of row 00000000-0000-0000-0000-000000000000 is NULL"
        );
    }
}
