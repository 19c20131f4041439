//! Table definitions that let other engines read the store: Athena, Trino (Hive connector), Spark
//! SQL and DuckDB. The columns and their types are written from the store's Parquet schema
//! ([`schema::file_schema`]), so the definitions cannot drift from what ingest writes.

use arrow::datatypes::{DataType, Field};

use super::schema;

/// An engine that `ctidx ddl` writes a table definition for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    Athena,
    Trino,
    Spark,
    Duckdb,
}

/// How Athena learns the `account` partitions: from a list written into the table (every query
/// works, and the list must be rewritten when accounts are added), or from each query's
/// `account = …` condition (a query without one is refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountProjection {
    Enumerated(Vec<String>),
    Injected,
}

/// What a definition is written for.
#[derive(Debug, Clone)]
pub struct TableDefinition {
    pub engine: Engine,
    /// The table's name, optionally qualified (`schema.table`, or `catalog.schema.table` for Trino).
    pub table: String,
    /// Where the store is: a URL (`s3://…`, `file://…`) or, for DuckDB, also a plain path.
    pub location: String,
    pub accounts: AccountProjection,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DdlError {
    #[error(
        "table name {0:?} is not a name: use letters, digits and _, optionally qualified with dots (schema.table)"
    )]
    TableName(String),
    #[error(
        "Athena reads tables only from S3, and the store is at {0}\n  hint: copy the store to S3 and pass --location s3://BUCKET/PREFIX/"
    )]
    AthenaNeedsS3(String),
    #[error("the location {0:?} contains a quote or a control character")]
    Location(String),
    #[error(
        "Athena needs the store's accounts to enumerate them, and none were found\n  hint: pass --injected-account to take the account from each query instead"
    )]
    NoAccounts,
    #[error(
        "account {0:?} in the store is not a plain account id: it cannot be enumerated for Athena"
    )]
    Account(String),
}

/// The first month Athena projects: CloudTrail began delivering logs in November 2013.
const FIRST_PROJECTED_MONTH: &str = "2013-11";

impl TableDefinition {
    /// The statements that create the table, separated by `;` and newlines, ready for the engine.
    pub fn statements(&self) -> Result<String, DdlError> {
        check_table_name(&self.table, self.engine)?;
        if self.location.chars().any(|c| c == '\'' || c.is_control()) {
            return Err(DdlError::Location(self.location.clone()));
        }
        match self.engine {
            Engine::Athena => self.athena(),
            Engine::Trino => Ok(self.trino()),
            Engine::Spark => Ok(self.spark()),
            Engine::Duckdb => Ok(self.duckdb()),
        }
    }

    fn directory(&self) -> String {
        format!("{}/", self.location.trim_end_matches('/'))
    }

    fn athena(&self) -> Result<String, DdlError> {
        if !self.location.starts_with("s3://") {
            return Err(DdlError::AthenaNeedsS3(self.location.clone()));
        }
        let location = self.directory();
        let account = match &self.accounts {
            AccountProjection::Injected => {
                "  'projection.account.type' = 'injected',\n".to_string()
            }
            AccountProjection::Enumerated(accounts) => {
                if accounts.is_empty() {
                    return Err(DdlError::NoAccounts);
                }
                if let Some(bad) = accounts.iter().find(|a| {
                    !a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                }) {
                    return Err(DdlError::Account(bad.clone()));
                }
                format!(
                    "  'projection.account.type' = 'enum',\n  'projection.account.values' = '{}',\n",
                    accounts.join(",")
                )
            }
        };
        Ok(format!(
            "CREATE EXTERNAL TABLE {table} (\n{columns}\n)\n\
             PARTITIONED BY (account STRING, month STRING)\n\
             STORED AS PARQUET\n\
             LOCATION '{location}'\n\
             TBLPROPERTIES (\n\
             \x20 'projection.enabled' = 'true',\n\
             {account}\
             \x20 'projection.month.type' = 'date',\n\
             \x20 'projection.month.format' = 'yyyy-MM',\n\
             \x20 'projection.month.range' = '{FIRST_PROJECTED_MONTH},NOW',\n\
             \x20 'projection.month.interval' = '1',\n\
             \x20 'projection.month.interval.unit' = 'MONTHS',\n\
             \x20 'storage.location.template' = '{location}account=${{account}}/month=${{month}}/'\n\
             );\n",
            table = self.table,
            columns = column_list(&Hive, "`"),
        ))
    }

    fn trino(&self) -> String {
        let parts: Vec<&str> = self.table.split('.').collect();
        let (table, schema_name, procedure) = match parts.as_slice() {
            [table] => (
                format!("default.{table}"),
                "default".to_string(),
                "system.sync_partition_metadata".to_string(),
            ),
            [schema_name, _] => (
                self.table.clone(),
                schema_name.to_string(),
                "system.sync_partition_metadata".to_string(),
            ),
            [catalog, schema_name, _] => (
                self.table.clone(),
                schema_name.to_string(),
                format!("{catalog}.system.sync_partition_metadata"),
            ),
            _ => unreachable!("checked by check_table_name"),
        };
        let bare = parts.last().copied().unwrap_or_default();
        format!(
            "CREATE TABLE {table} (\n{columns},\n  account varchar,\n  month varchar\n)\n\
             WITH (\n\
             \x20 external_location = '{location}',\n\
             \x20 format = 'PARQUET',\n\
             \x20 partitioned_by = ARRAY['account', 'month']\n\
             );\n\
             CALL {procedure}('{schema_name}', '{bare}', 'FULL');\n",
            columns = column_list(&Trino, "\""),
            location = self.directory(),
        )
    }

    fn spark(&self) -> String {
        // json_extract_scalar is the Athena/Trino function the queries in sql/ use. A SQL function
        // (Spark 4.0+) lasts one session, so it is defined again with each session.
        format!(
            "CREATE OR REPLACE TEMPORARY FUNCTION json_extract_scalar(json STRING, path STRING)\n\
             RETURNS STRING RETURN get_json_object(json, path);\n\
             CREATE TABLE {table} (\n{columns},\n  account STRING,\n  month STRING\n)\n\
             USING parquet\n\
             PARTITIONED BY (account, month)\n\
             LOCATION '{location}';\n\
             MSCK REPAIR TABLE {table};\n",
            table = self.table,
            columns = column_list(&Hive, "`"),
            location = self.directory(),
        )
    }

    fn duckdb(&self) -> String {
        // Partition values are text, as the store declares them: account ids keep leading zeros.
        // json_extract_scalar is the Athena/Trino function the queries in sql/ use; DuckDB's
        // json_extract_string gives the same answer for the scalars they extract.
        format!(
            "CREATE OR REPLACE MACRO json_extract_scalar(json, path) AS json_extract_string(json, path);\n\
             CREATE OR REPLACE VIEW {table} AS\n\
             SELECT * FROM read_parquet(\n\
             \x20 '{location}account=*/month=*/*.parquet',\n\
             \x20 hive_partitioning = true,\n\
             \x20 hive_types = {{'account': VARCHAR, 'month': VARCHAR}}\n\
             );\n",
            table = self.table,
            location = self.directory(),
        )
    }
}

fn check_table_name(table: &str, engine: Engine) -> Result<(), DdlError> {
    let parts: Vec<&str> = table.split('.').collect();
    let most = if engine == Engine::Trino { 3 } else { 2 };
    let valid = parts.len() <= most
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit())
        });
    if valid {
        Ok(())
    } else {
        Err(DdlError::TableName(table.to_string()))
    }
}

/// How one engine spells the Parquet schema's types.
trait TypeSyntax {
    fn text(&self) -> &'static str;
    fn field(&self, name: &str, data_type: String) -> String;
    fn structure(&self, fields: Vec<String>) -> String;
    fn array(&self, item: String) -> String;
    fn map(&self, key: String, value: String) -> String;
}

/// Hive DDL, as Athena and Spark SQL take it.
struct Hive;

impl TypeSyntax for Hive {
    fn text(&self) -> &'static str {
        "STRING"
    }
    fn field(&self, name: &str, data_type: String) -> String {
        format!("{name}:{data_type}")
    }
    fn structure(&self, fields: Vec<String>) -> String {
        format!("STRUCT<{}>", fields.join(", "))
    }
    fn array(&self, item: String) -> String {
        format!("ARRAY<{item}>")
    }
    fn map(&self, key: String, value: String) -> String {
        format!("MAP<{key}, {value}>")
    }
}

/// Trino's types.
struct Trino;

impl TypeSyntax for Trino {
    fn text(&self) -> &'static str {
        "varchar"
    }
    fn field(&self, name: &str, data_type: String) -> String {
        format!("\"{name}\" {data_type}")
    }
    fn structure(&self, fields: Vec<String>) -> String {
        format!("ROW({})", fields.join(", "))
    }
    fn array(&self, item: String) -> String {
        format!("ARRAY({item})")
    }
    fn map(&self, key: String, value: String) -> String {
        format!("MAP({key}, {value})")
    }
}

fn spelled(syntax: &dyn TypeSyntax, data_type: &DataType) -> String {
    match data_type {
        DataType::Struct(fields) => syntax.structure(
            fields
                .iter()
                .map(|field| syntax.field(field.name(), spelled(syntax, field.data_type())))
                .collect(),
        ),
        DataType::List(item) => syntax.array(spelled(syntax, item.data_type())),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(pair) if pair.len() == 2 => syntax.map(
                spelled(syntax, pair[0].data_type()),
                spelled(syntax, pair[1].data_type()),
            ),
            other => unreachable!("the store's maps are key/value structs, not {other}"),
        },
        DataType::Utf8 => syntax.text().to_string(),
        other => unreachable!("the store has no {other} column"),
    }
}

/// The data columns, one per line, with the top-level names quoted.
fn column_list(syntax: &dyn TypeSyntax, quote: &str) -> String {
    schema::file_schema()
        .fields()
        .iter()
        .map(|field: &std::sync::Arc<Field>| {
            format!(
                "  {quote}{}{quote} {}",
                field.name(),
                spelled(syntax, field.data_type())
            )
        })
        .collect::<Vec<_>>()
        .join(",\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(engine: Engine) -> TableDefinition {
        TableDefinition {
            engine,
            table: "cloudtrail".into(),
            location: "s3://bucket/ct".into(),
            accounts: AccountProjection::Enumerated(vec![
                "111111111111".into(),
                "222222222222".into(),
            ]),
        }
    }

    #[test]
    fn every_column_of_the_schema_is_declared_once_with_its_nested_members() {
        for engine in [Engine::Athena, Engine::Trino, Engine::Spark] {
            let text = definition(engine).statements().unwrap();
            for field in schema::file_schema().fields() {
                assert_eq!(
                    text.matches(&format!(
                        "{}{}",
                        if engine == Engine::Trino { "\"" } else { "`" },
                        field.name()
                    ))
                    .count(),
                    1,
                    "{engine:?} {}",
                    field.name()
                );
            }
        }
        let hive = spelled(
            &Hive,
            schema::file_schema()
                .field_with_name("resources")
                .unwrap()
                .data_type(),
        );
        assert_eq!(
            hive,
            "ARRAY<STRUCT<arn:STRING, accountid:STRING, type:STRING>>"
        );
        let trino = spelled(
            &Trino,
            schema::file_schema()
                .field_with_name("useridentity")
                .unwrap()
                .data_type(),
        );
        assert!(trino.contains("\"webidfederationdata\" ROW(\"federatedprovider\" varchar, \"attributes\" MAP(varchar, varchar))"), "{trino}");
    }

    #[test]
    fn athena_projects_accounts_and_months_from_the_store_layout() {
        let text = definition(Engine::Athena).statements().unwrap();
        assert!(text.contains("'projection.account.values' = '111111111111,222222222222'"));
        assert!(text.contains(
            "'storage.location.template' = 's3://bucket/ct/account=${account}/month=${month}/'"
        ));
        assert!(text.contains("'projection.month.interval.unit' = 'MONTHS'"));
        let injected = TableDefinition {
            accounts: AccountProjection::Injected,
            ..definition(Engine::Athena)
        };
        assert!(
            injected
                .statements()
                .unwrap()
                .contains("'projection.account.type' = 'injected'")
        );
    }

    #[test]
    fn bad_names_locations_and_accounts_are_refused() {
        let named = |table: &str, engine| TableDefinition {
            table: table.into(),
            ..definition(engine)
        };
        assert!(named("db.cloudtrail", Engine::Spark).statements().is_ok());
        assert!(
            named("hive.db.cloudtrail", Engine::Trino)
                .statements()
                .is_ok()
        );
        for bad in ["", "a;drop", "a..b", "1abc", "a.b.c"] {
            assert_eq!(
                named(bad, Engine::Spark).statements(),
                Err(DdlError::TableName(bad.into()))
            );
        }
        let local = TableDefinition {
            location: "file:///data/store".into(),
            ..definition(Engine::Athena)
        };
        assert!(matches!(
            local.statements(),
            Err(DdlError::AthenaNeedsS3(_))
        ));
        let quoted = TableDefinition {
            location: "s3://b/it's".into(),
            ..definition(Engine::Spark)
        };
        assert!(matches!(quoted.statements(), Err(DdlError::Location(_))));
        let none = TableDefinition {
            accounts: AccountProjection::Enumerated(vec![]),
            ..definition(Engine::Athena)
        };
        assert_eq!(none.statements(), Err(DdlError::NoAccounts));
    }
}
