//! A range filter on a text column (a window of `eventtime`) is applied by the table, and only to
//! the files whose statistics do not settle it: the answers must be those of the same test written
//! so that nothing can settle it, whether the window covers whole files, cuts through them, or
//! misses them.

use serde_json::{Value, json};

use crate::support::{aws_key, gzip, ingest, record, sql, stderr, stdout, write};

const ACCOUNT: &str = "111111111111";
const DAYS: [&str; 3] = ["2024-03-04", "2024-03-05", "2024-03-06"];

fn time(day: &str, second_of_day: usize) -> String {
    format!(
        "{day}T{:02}:{:02}:{:02}Z",
        second_of_day / 3600,
        (second_of_day / 60) % 60,
        second_of_day % 60
    )
}

/// Three days of events over every hour, by ten users. A second run adds a file to the middle
/// day holding only its midday hours, and an event whose time has milliseconds.
fn store_of_three_days() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let batch = |name: &str, records: Vec<Value>, day: &str| {
        let source = dir.path().join(name);
        let body = serde_json::to_vec(&json!({ "Records": records })).expect("json");
        write(
            &aws_key(&source, ACCOUNT, "us-east-1", day, "0"),
            &gzip(&body),
        );
        let output = ingest(&source, &store, &["--quiet"]);
        assert!(output.status.success(), "ingest: {}", stderr(&output));
    };
    let mut first = Vec::new();
    for (d, day) in DAYS.iter().enumerate() {
        for n in 0..3000 {
            first.push(record(
                ACCOUNT,
                &time(day, n * 28 + 7),
                "ec2.amazonaws.com",
                &format!("Describe{}", n % 9),
                &format!("{d}-{n}"),
                &format!("user{}", n % 10),
            ));
        }
    }
    batch("first", first, DAYS[2]);
    let mut second: Vec<Value> = (0..500)
        .map(|n| {
            record(
                ACCOUNT,
                &time(DAYS[1], 10 * 3600 + n * 30),
                "s3.amazonaws.com",
                "ListBuckets",
                &format!("late-{n}"),
                &format!("user{}", n % 10),
            )
        })
        .collect();
    second.push(record(
        ACCOUNT,
        "2024-03-05T12:00:00.250Z",
        "s3.amazonaws.com",
        "ListBuckets",
        "late-ms",
        "user1",
    ));
    batch("second", second, DAYS[1]);
    (dir, store)
}

fn rows(store: &std::path::Path, query: &str) -> Vec<String> {
    let output = sql(store, query);
    assert!(output.status.success(), "{query}: {}", stderr(&output));
    stdout(&output)
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

#[test]
fn windows_of_eventtime_answer_as_a_test_of_every_row_would() {
    let (_dir, store) = store_of_three_days();
    let store = store.as_path();
    let filters = [
        // Whole days, with and without the partition filter.
        "eventtime >= '2024-03-05T00:00:00Z' AND eventtime < '2024-03-06T00:00:00Z'",
        "day = '2024-03-05' AND eventtime >= '2024-03-05T00:00:00Z' AND eventtime < '2024-03-06T00:00:00Z'",
        "eventtime >= '2024-03-04' AND eventtime < '2024-03-07'",
        // Through the middle of a day, and of the second run's file.
        "eventtime > '2024-03-05T10:00:00Z' AND eventtime <= '2024-03-05T12:00:00Z'",
        "eventtime >= '2024-03-04T00:00:00Z' AND eventtime < '2024-03-05T12:00:00Z'",
        "eventtime BETWEEN '2024-03-05T11:59:00Z' AND '2024-03-05T12:00:00.5Z'",
        "'2024-03-05T12:00:00Z' > eventtime",
        "'2024-03-05T12:00:00Z' <= eventtime",
        "eventtime >= '2024-03-05T12:00:00.250Z'",
        // Outside every file.
        "eventtime > '2024-03-07'",
        "eventtime < '2024-03-01'",
        // With a principal's filter, which selects pages.
        "useridentity.arn = 'arn:aws:iam::111111111111:user/user3' AND eventtime >= '2024-03-05T06:00:00Z'",
        // Another text column, which no file's statistics settle.
        "eventname >= 'Describe5' AND eventname < 'Describe7'",
    ];
    for filter in filters {
        // `concat(eventtime, '')` is the same text, but no longer a column the table can settle.
        let unserved = filter
            .replace("eventtime", "concat(eventtime, '')")
            .replace("eventname", "concat(eventname, '')");
        for query in [
            "SELECT count(*) FROM cloudtrail WHERE {}",
            "SELECT eventid, eventtime FROM cloudtrail WHERE {} ORDER BY eventid",
            "SELECT useridentity.username, count(*) FROM cloudtrail WHERE {} GROUP BY 1 ORDER BY 1",
            // Partition columns beside file columns, and every column.
            "SELECT day, account, count(*) FROM cloudtrail WHERE {} GROUP BY 1, 2 ORDER BY 1, 2",
            "SELECT * FROM cloudtrail WHERE {} ORDER BY eventid LIMIT 50",
        ] {
            let served = rows(store, &query.replace("{}", filter));
            let expected = rows(store, &query.replace("{}", &unserved));
            assert_eq!(served, expected, "{query} WHERE {filter}");
        }
    }
    // The first check must not pass for want of rows.
    let counted = rows(
        store,
        "SELECT count(*) FROM cloudtrail WHERE eventtime > '2024-03-05T10:00:00Z' AND eventtime <= '2024-03-05T12:00:00Z'",
    );
    assert_eq!(counted, ["498"]);
}

#[test]
fn a_limit_is_taken_after_the_window_is_applied() {
    let (_dir, store) = store_of_three_days();
    let times = rows(
        &store,
        "SELECT eventtime FROM cloudtrail WHERE eventtime >= '2024-03-05T23:00:00Z' LIMIT 200",
    );
    assert_eq!(times.len(), 200);
    assert!(
        times.iter().all(|t| t.as_str() >= "2024-03-05T23:00:00Z"),
        "{times:?}"
    );
}

#[test]
fn a_window_is_applied_by_choosing_the_rows_read_with_no_filter_above_the_scan() {
    let (_dir, store) = store_of_three_days();
    let plan = |filter: &str| {
        rows(
            &store,
            &format!("EXPLAIN ANALYZE SELECT count(*) FROM cloudtrail WHERE {filter}"),
        )
        .join("\n")
    };
    // Both files (the month's first run, of three days, and the second, of one day's midday) lie
    // inside the window, or the window cuts them: either way no row is tested above the scan.
    for filter in [
        "eventtime >= '2024-03-04T00:00:00Z' AND eventtime < '2024-03-07T00:00:00Z'",
        "day BETWEEN '2024-03-04' AND '2024-03-06'",
        "eventtime >= '2024-03-05T12:00:00Z' AND eventtime < '2024-03-05T13:00:00Z'",
    ] {
        let plan = plan(filter);
        assert!(!plan.contains("FilterExec"), "{filter}: {plan}");
    }
    // The scan hands on only the rows in the window: the hour's 128 of the first run, 120 of the
    // second and the event at 12:00:00.250.
    let midday = "eventtime >= '2024-03-05T12:00:00Z' AND eventtime < '2024-03-05T13:00:00Z'";
    let counted = rows(
        &store,
        &format!("SELECT count(*) FROM cloudtrail WHERE {midday}"),
    );
    assert_eq!(counted, ["249"]);
    let midday_plan = plan(midday);
    assert!(
        midday_plan.contains("DataSourceExec") && midday_plan.contains("output_rows=249,"),
        "{midday_plan}"
    );
}
