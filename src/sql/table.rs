//! The `cloudtrail` table: the store's listing table, with two things added to its scans.
//!
//! * Page selection (`page_selection`): a filter on a principal reads only the pages of each file
//!   that can hold that principal's rows.
//! * Settled ranges (`settled_ranges`): a range filter on `day` or `eventtime`, such as a window
//!   of `eventtime`, is applied by this table, and only to the files whose statistics do not show it
//!   true for every row. The other files are read without it, and without its column; in those at
//!   the window's edge, only the rows in range are read (`range_rows`).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::{ListingTable, PartitionedFile};
use datafusion::datasource::physical_plan::parquet::ParquetAccessPlan;
use datafusion::datasource::physical_plan::parquet::metadata::DFParquetMetadata;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaData};

use super::page_selection::{RowTest, access_plan, split_lone_row_group, string_literal};
use super::range_rows::rows_in_ranges;
use super::settled_ranges::ColumnRange;
use crate::store::day_range_of_name;
use crate::store::schema::{column, text_views};

/// The store's listing table, with page selection and settled ranges added to its scans.
#[derive(Debug)]
pub struct StoreTable {
    inner: ListingTable,
    /// Data files an interrupted compaction has replaced (see `Store::superseded_files`), as
    /// object-store paths: left out of every scan.
    superseded: Vec<String>,
}

impl StoreTable {
    /// `superseded`: object-store locations, as [`crate::store::Store::superseded_locations`] gives
    /// them.
    pub fn new(inner: ListingTable, superseded: Vec<String>) -> StoreTable {
        StoreTable { inner, superseded }
    }

    /// The listing table's scan, without superseded files.
    async fn listed_scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, projection, filters, limit).await?;
        if self.superseded.is_empty() {
            return Ok(plan);
        }
        let Some(config) = file_scan_config(&plan) else {
            return Err(not_a_file_scan());
        };
        let mut config = config.clone();
        for group in &mut config.file_groups {
            let kept = group
                .iter()
                .filter(|file| {
                    !self
                        .superseded
                        .iter()
                        .any(|path| file.object_meta.location.as_ref() == path)
                })
                .cloned()
                .collect();
            *group = FileGroup::new(kept);
        }
        Ok(DataSourceExec::from_data_source(config))
    }
}

#[async_trait]
impl TableProvider for StoreTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        let answers = self.inner.supports_filters_pushdown(filters)?;
        Ok(answers
            .into_iter()
            .zip(filters)
            .map(|(answer, filter)| match answer {
                TableProviderFilterPushDown::Inexact if settled_range(filter).is_some() => {
                    TableProviderFilterPushDown::Exact
                }
                answer => answer,
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let page_test = RowTest::of_filters(filters);
        let ranges: Vec<ColumnRange> = filters.iter().filter_map(settled_range).collect();
        // The listing must not pick files by their row counts to meet `limit` before the ranges
        // have been applied.
        let limit = if ranges.is_empty() { limit } else { None };
        let plan = without_files_of_other_days(
            self.listed_scan(state, projection, filters, limit).await?,
            filters,
        );
        if page_test.is_none() && ranges.is_empty() {
            return Ok(plan);
        }
        let Some(config) = file_scan_config(&plan) else {
            if plan.downcast_ref::<EmptyExec>().is_some() {
                return Ok(plan);
            }
            return Err(not_a_file_scan());
        };
        let mut config = config.clone();
        let store = state.runtime_env().object_store(&config.object_store_url)?;
        // Read through DataFusion's metadata cache, page index included, so the reader that opens
        // the file next finds both there.
        let cache = state.runtime_env().cache_manager.get_file_metadata_cache();
        let size_hint = state.config_options().execution.parquet.metadata_size_hint;
        let mut groups: Vec<Vec<ScannedFile>> = Vec::with_capacity(config.file_groups.len());
        for group in &config.file_groups {
            let files = futures::future::try_join_all(group.iter().map(|file| async {
                let metadata = DFParquetMetadata::new(store.as_ref(), &file.object_meta)
                    .with_file_metadata_cache(Some(Arc::clone(&cache)))
                    .with_page_index_policy(Some(PageIndexPolicy::Optional))
                    .with_metadata_size_hint(size_hint)
                    .fetch_metadata()
                    .await?;
                if ranges.iter().any(|range| range.holds_for_no_row(&metadata)) {
                    return Ok::<_, DataFusionError>(None);
                }
                let mut file = file.clone();
                file.arrow_schema = text_read_as_views(&metadata);
                let mut access = page_test.as_ref().and_then(|t| access_plan(t, &metadata));
                let open: Vec<&ColumnRange> = ranges
                    .iter()
                    .filter(|range| !range.holds_for_every_row(&metadata))
                    .collect();
                if !open.is_empty() {
                    access =
                        rows_in_ranges(&store, &file, &metadata, &open, access.as_ref()).await?;
                }
                if let Some(access) = access {
                    file.extensions.insert(access);
                }
                Ok(Some(ScannedFile { file, metadata }))
            }))
            .await?;
            groups.push(files.into_iter().flatten().collect());
        }
        spread_lone_row_groups(
            &mut groups,
            state.config_options().execution.target_partitions,
        );
        if groups.iter().all(Vec::is_empty) {
            return Ok(Arc::new(EmptyExec::new(plan.schema())));
        }
        config.file_groups = groups
            .into_iter()
            .filter(|files| !files.is_empty())
            .map(|files| FileGroup::new(files.into_iter().map(|f| f.file).collect()))
            .collect();
        Ok(DataSourceExec::from_data_source(config))
    }
}

/// A file a scan reads, with its metadata.
struct ScannedFile {
    file: PartitionedFile,
    metadata: Arc<ParquetMetaData>,
}

/// The range `filter` asks of `day` or `eventtime`. This table tells DataFusion that it
/// applies such a filter itself (`Exact`), so it must, in every scan.
///
/// Only these two columns: rows are sorted by day and, within a principal, by time, so a file
/// at a window's edge has few pages that straddle it. A range on another column (`eventname`)
/// straddles nearly every page of every file; choosing its rows before the scan read that
/// column twice, and took 1.7-1.8 times as long as DataFusion's own filter on 1M events.
fn settled_range(filter: &Expr) -> Option<ColumnRange> {
    ColumnRange::from_expr(filter)
        .filter(|range| range.column == column::DAY || range.column == column::EVENT_TIME)
}

/// When a scan reads fewer files than it has partitions, each file whose rows to read lie in one
/// row group is read in parts, each part in a group of its own, so that every partition has work:
/// a day of one account is one file of one row group.
fn spread_lone_row_groups(groups: &mut Vec<Vec<ScannedFile>>, partitions: usize) {
    let files: usize = groups.iter().map(Vec::len).sum();
    if files == 0 || files >= partitions {
        return;
    }
    let parts = partitions / files;
    let mut spread = Vec::with_capacity(partitions);
    for group in std::mem::take(groups) {
        let mut kept = Vec::new();
        for scanned in group {
            let plan = scanned.file.extensions.get::<ParquetAccessPlan>();
            let plans = scanned
                .file
                .range
                .is_none()
                .then(|| split_lone_row_group(plan, &scanned.metadata, parts))
                .flatten();
            let Some(plans) = plans else {
                kept.push(scanned);
                continue;
            };
            for plan in plans {
                let mut file = scanned.file.clone();
                file.extensions.insert(plan);
                spread.push(vec![ScannedFile {
                    file,
                    metadata: Arc::clone(&scanned.metadata),
                }]);
            }
        }
        if !kept.is_empty() {
            spread.push(kept);
        }
    }
    *groups = spread;
}

/// The days the conditions on `day` among `filters` admit, as inclusive bounds (`None`: open).
fn day_window(filters: &[Expr]) -> (Option<String>, Option<String>) {
    let (mut first, mut last): (Option<String>, Option<String>) = (None, None);
    let mut narrow = |lower: Option<&str>, upper: Option<&str>| {
        if let Some(lower) = lower
            && first.as_deref().is_none_or(|f| lower > f)
        {
            first = Some(lower.to_string());
        }
        if let Some(upper) = upper
            && last.as_deref().is_none_or(|l| upper < l)
        {
            last = Some(upper.to_string());
        }
    };
    for filter in filters {
        if let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = filter
        {
            let day = match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), value) | (value, Expr::Column(c)) if c.name == column::DAY => {
                    string_literal(value)
                }
                _ => None,
            };
            if let Some(day) = day {
                narrow(Some(&day), Some(&day));
            }
        } else if let Some(range) = ColumnRange::from_expr(filter)
            && range.column == column::DAY
        {
            let (lower, upper) = range.loose_bounds();
            narrow(lower, upper);
        }
    }
    (first, last)
}

/// `plan` without the files whose names say they hold no day the filters admit
/// (`store::day_range_of_name`): they are not even opened. Files whose names say nothing stay.
fn without_files_of_other_days(
    plan: Arc<dyn ExecutionPlan>,
    filters: &[Expr],
) -> Arc<dyn ExecutionPlan> {
    let (first, last) = day_window(filters);
    if first.is_none() && last.is_none() {
        return plan;
    }
    let Some(config) = file_scan_config(&plan) else {
        return plan;
    };
    let mut config = config.clone();
    for group in &mut config.file_groups {
        let kept = group
            .iter()
            .filter(|file| {
                let name = file.object_meta.location.filename().unwrap_or_default();
                day_range_of_name(name).is_none_or(|(from, to)| {
                    first.as_deref().is_none_or(|first| to >= first)
                        && last.as_deref().is_none_or(|last| from <= last)
                })
            })
            .cloned()
            .collect();
        *group = FileGroup::new(kept);
    }
    DataSourceExec::from_data_source(config)
}

/// The columns of a data file with its text, nested text too, read as views, as the table's
/// schema has them. Without it, DataFusion reads only top-level text as views: the text inside
/// `useridentity` would be copied out of its pages, then cast.
fn text_read_as_views(metadata: &ParquetMetaData) -> Option<SchemaRef> {
    let file = metadata.file_metadata();
    let columns =
        parquet::arrow::parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
            .ok()?;
    Some(Arc::new(text_views(&columns, true)))
}

fn not_a_file_scan() -> DataFusionError {
    DataFusionError::Internal("the store's scan is not a file scan".into())
}

fn file_scan_config(plan: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    plan.downcast_ref::<DataSourceExec>()
        .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::DataType;
    use datafusion::prelude::{col, lit};

    use super::*;
    use crate::ingest::{self, IngestOptions, source};
    use crate::sql::page_selection;
    use crate::store::Store;
    use arrow::array::RecordBatch;

    /// A store ingested from one log file of `records`.
    fn store_of(dir: &std::path::Path, records: &[String]) -> Store {
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).expect("logs folder");
        let text = format!("{{\"Records\":[{}]}}", records.join(","));
        std::fs::write(logs.join("a.json"), text).expect("writes logs");
        let store = Store::new(dir.join("store"));
        let listing = source::list_local(&logs).expect("lists");
        ingest::ingest(&store, listing, &IngestOptions::default(), &ingest::Silent)
            .expect("ingests");
        store
    }

    /// A store of three events of one account and day, one with resources and request parameters.
    fn small_store(dir: &std::path::Path) -> Store {
        let identity = r#"{"type":"AssumedRole","arn":"arn:aws:sts::111111111111:assumed-role/deploy/s","accountId":"111111111111","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111111111111:role/deploy","userName":"deploy"}}}"#;
        let records: Vec<String> = (1..=3)
            .map(|id| {
                format!(
                    r#"{{"eventTime":"2024-03-01T10:00:0{id}Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","eventID":"e{id}","recipientAccountId":"111111111111","userIdentity":{identity},"requestParameters":{{"bucketName":"b"}},"resources":[{{"ARN":"arn:aws:s3:::b/{id}","type":"AWS::S3::Object"}}]}}"#
                )
            })
            .collect();
        store_of(dir, &records)
    }

    fn holds_plain_text(data_type: &DataType) -> bool {
        text_views_of(data_type, false) == *data_type
    }

    fn text_views_of(data_type: &DataType, views: bool) -> DataType {
        crate::store::schema::text_type(data_type, views)
    }

    /// A store holding one file: one day of `rows` events by 40 users, of 30 event names.
    fn one_day_store(dir: &std::path::Path, rows: usize) -> Store {
        let records: Vec<String> = (0..rows)
            .map(|id| {
                let (hour, minute, second) = (id / 3600 % 24, id / 60 % 60, id % 60);
                format!(
                    r#"{{"eventTime":"2024-03-01T{hour:02}:{minute:02}:{second:02}Z","eventSource":"s3.amazonaws.com","eventName":"Call{}","eventID":"e{id:06}","recipientAccountId":"111111111111","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111111111111:user/u{}","userName":"u{}"}}}}"#,
                    id % 30,
                    id % 40,
                    id % 40
                )
            })
            .collect();
        store_of(dir, &records)
    }

    fn answer(ctx: &datafusion::prelude::SessionContext, sql: &str) -> String {
        let batches = crate::sql::block_on(crate::sql::query(ctx, sql, None))
            .expect("runtime")
            .expect("runs");
        arrow::util::pretty::pretty_format_batches(&batches)
            .expect("formats")
            .to_string()
    }

    fn plan_of(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        crate::sql::block_on(async { ctx.sql(sql).await?.create_physical_plan().await })
            .expect("runtime")
            .expect("plans")
    }

    /// The files the plan of `sql` reads, once per read (a file read in parts, once per part).
    fn file_reads(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Vec<PartitionedFile> {
        let mut files = Vec::new();
        let mut pending = vec![plan_of(ctx, sql)];
        while let Some(node) = pending.pop() {
            if let Some(config) = file_scan_config(&node) {
                files.extend(config.file_groups.iter().flat_map(|g| g.iter().cloned()));
            }
            pending.extend(node.children().into_iter().cloned());
        }
        files
    }

    #[test]
    fn a_file_of_one_row_group_is_read_in_parts_with_the_same_answers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = one_day_store(dir.path(), 3 * page_selection::MIN_SPLIT_ROWS / 2);
        let parallel = crate::sql::session(&store).expect("session");
        answer(&parallel, "SET datafusion.execution.target_partitions = 2");
        let serial = crate::sql::session(&store).expect("session");
        answer(&serial, "SET datafusion.execution.target_partitions = 1");
        let users: Vec<String> = (0..30)
            .map(|user| format!("'arn:aws:iam::111111111111:user/u{user}'"))
            .collect();
        let questions = [
            // Every row of the file.
            "SELECT eventname, count(*) AS n, min(eventid), max(eventid) FROM cloudtrail \
             WHERE account = '111111111111' AND day = '2024-03-01' GROUP BY eventname ORDER BY 1"
                .to_string(),
            // The pages of most principals.
            format!(
                "SELECT count(*), min(eventid), max(eventid), count(DISTINCT eventname) \
                 FROM cloudtrail WHERE useridentity.arn IN ({})",
                users.join(", ")
            ),
            // A range the file's statistics do not settle: its rows are chosen, then split.
            "SELECT eventid FROM cloudtrail WHERE day = '2024-03-01' \
             AND eventtime >= '2024-03-01T00:30:00Z' AND eventtime < '2024-03-01T06:30:00Z' \
             ORDER BY eventid"
                .to_string(),
        ];
        for sql in &questions {
            let sql = sql.as_str();
            assert_eq!(file_reads(&parallel, sql).len(), 2, "{sql}");
            assert_eq!(file_reads(&serial, sql).len(), 1, "{sql}");
            assert_eq!(answer(&parallel, sql), answer(&serial, sql), "{sql}");
        }
        // An equality this table settles from statistics answers as one DataFusion applies itself.
        for (settled, applied) in [
            ("day = '2024-03-01'", "day IN ('2024-03-01')"),
            ("eventname = 'Call7'", "eventname IN ('Call7')"),
            ("day = '2024-03-02'", "day IN ('2024-03-02')"),
        ] {
            let count = |condition: &str| {
                answer(
                    &parallel,
                    &format!("SELECT count(*), min(eventid) FROM cloudtrail WHERE {condition}"),
                )
            };
            assert_eq!(count(settled), count(applied), "{settled}");
        }
        let whole = answer(
            &parallel,
            "SELECT count(*) AS n, count(DISTINCT eventid) AS ids FROM cloudtrail WHERE day = '2024-03-01'",
        );
        let rows = 3 * page_selection::MIN_SPLIT_ROWS / 2;
        assert!(whole.contains(&format!("| {rows} | {rows} |")), "{whole}");
    }

    /// A store of one file holding three days: 2024-03-01 to 03, 3,000 events a day by 40 users.
    fn three_day_store(dir: &std::path::Path) -> Store {
        let records: Vec<String> = (0..9000)
            .map(|id| {
                let (day, second) = (1 + id / 3000, id % 3000 * 28);
                format!(
                    r#"{{"eventTime":"2024-03-{day:02}T{:02}:{:02}:{:02}Z","eventSource":"s3.amazonaws.com","eventName":"Call{}","eventID":"e{id:06}","recipientAccountId":"111111111111","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111111111111:user/u{}","userName":"u{}"}}}}"#,
                    second / 3600,
                    second / 60 % 60,
                    second % 60,
                    id % 30,
                    (id + day) % 40,
                    (id + day) % 40
                )
            })
            .collect();
        store_of(dir, &records)
    }

    #[test]
    fn a_window_cutting_a_file_reads_its_rows_in_range_and_only_the_member_asked_for() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = three_day_store(dir.path());
        let ctx = crate::sql::session(&store).expect("session");
        let files = file_reads(&ctx, "SELECT eventid FROM cloudtrail");
        assert!(
            files.iter().all(|f| f
                .object_meta
                .location
                .as_ref()
                .ends_with("_2024-03-01_2024-03-03.parquet")),
            "one file of three days: {files:?}"
        );
        for (from, to) in [
            ("2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z"),
            ("2024-03-01T13:07:00Z", "2024-03-02T05:00:01Z"),
            ("2024-03-02T23:59:59Z", "2024-03-04T00:00:00Z"),
            ("2024-03-03T23:00:00Z", "2024-03-09T00:00:00Z"),
        ] {
            let window = |column: &str| {
                format!("{column} >= '{from}' AND {column} < '{to}' AND errorcode IS NULL")
            };
            let sql = format!(
                "SELECT DISTINCT useridentity.username FROM cloudtrail WHERE {} ORDER BY 1",
                window("eventtime")
            );
            // The same window, as an expression this table does not apply itself.
            let applied_by_datafusion = format!(
                "SELECT DISTINCT useridentity.username FROM cloudtrail WHERE {} ORDER BY 1",
                window("(eventtime || '')")
            );
            assert_eq!(
                answer(&ctx, &sql),
                answer(&ctx, &applied_by_datafusion),
                "{sql}"
            );
            let count = |column: &str| {
                answer(
                    &ctx,
                    &format!(
                        "SELECT count(*), min(eventid), max(eventid) FROM cloudtrail WHERE {}",
                        window(column)
                    ),
                )
            };
            assert_eq!(
                count("eventtime"),
                count("(eventtime || '')"),
                "{from}..{to}"
            );

            let plan = datafusion::physical_plan::displayable(plan_of(&ctx, &sql).as_ref())
                .indent(true)
                .to_string();
            assert!(!plan.contains("UnionExec"), "{plan}");
            assert!(
                !plan.contains("eventtime@"),
                "the window is not tested above the scan: {plan}"
            );
            assert!(
                plan.contains("projection=[get_field(useridentity@"),
                "the scan reads only the member: {plan}"
            );
        }
    }

    #[test]
    fn text_is_read_as_views_even_nested_and_answered_as_plain_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = small_store(dir.path());
        let ctx = crate::sql::session(&store).expect("session");
        let sql = "SELECT useridentity, resources, requestparameters, eventname FROM cloudtrail \
                   WHERE account = '111111111111' AND day = '2024-03-01' \
                   AND useridentity.sessioncontext.sessionissuer.arn = 'arn:aws:iam::111111111111:role/deploy' \
                   ORDER BY eventid";
        // Each file is read with its own columns' text as views: DataFusion alone would read the
        // text inside `useridentity` as Utf8, then cast it.
        let files = file_reads(&ctx, sql);
        assert_eq!(files.len(), 1);
        for file in &files {
            let columns = file.arrow_schema.as_ref().expect("the file's columns");
            assert_eq!(**columns, text_views(columns, true));
            assert!(columns.field_with_name(column::USER_IDENTITY).is_ok());
        }
        let plan = plan_of(&ctx, sql);
        let scanned =
            crate::sql::block_on(datafusion::physical_plan::collect(plan, ctx.task_ctx()))
                .expect("runtime")
                .expect("runs");
        let schema = scanned[0].schema();
        for field in schema.fields() {
            assert_eq!(
                *field.data_type(),
                text_views_of(field.data_type(), true),
                "{} read with text not as views: {}",
                field.name(),
                field.data_type()
            );
        }
        let answered = crate::sql::block_on(crate::sql::query(&ctx, sql, None))
            .expect("runtime")
            .expect("runs");
        let rows: usize = answered.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 3);
        for field in answered[0].schema().fields() {
            assert!(
                holds_plain_text(field.data_type()),
                "{} answered as {}",
                field.name(),
                field.data_type()
            );
        }
        let plain: Vec<RecordBatch> = scanned
            .into_iter()
            .map(|batch| super::super::plain_text(batch).expect("casts"))
            .collect();
        assert_eq!(
            arrow::util::pretty::pretty_format_batches(&plain)
                .expect("formats")
                .to_string(),
            arrow::util::pretty::pretty_format_batches(&answered)
                .expect("formats")
                .to_string()
        );
        let text = arrow::util::pretty::pretty_format_batches(&answered)
            .expect("formats")
            .to_string();
        assert!(
            text.contains("arn:aws:s3:::b/3") && text.contains("role/deploy"),
            "{text}"
        );
    }

    #[test]
    fn the_day_window_is_the_narrowest_the_day_conditions_allow() {
        let window = |filters: Vec<Expr>| day_window(&filters);
        let some = |text: &str| Some(text.to_string());
        assert_eq!(window(vec![]), (None, None));
        assert_eq!(
            window(vec![col("day").eq(lit("2024-03-03"))]),
            (some("2024-03-03"), some("2024-03-03"))
        );
        assert_eq!(
            window(vec![
                col("day").between(lit("2024-03-01"), lit("2024-03-31")),
                col("day").gt(lit("2024-03-10")),
                lit("2024-03-20").gt_eq(col("day")),
                col("eventtime").lt(lit("2024-03-05")),
            ]),
            (some("2024-03-10"), some("2024-03-20"))
        );
        assert_eq!(
            window(vec![
                col("day")
                    .eq(lit("2024-03-03"))
                    .or(col("day").eq(lit("2024-03-09")))
            ]),
            (None, None),
            "a disjunction is not narrowed"
        );
    }
}
