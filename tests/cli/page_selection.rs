//! A filter on a principal column reads only the pages that can hold the principal's rows: the
//! answers must be those of a filter the page index cannot serve, and fewer rows must be read.

use serde_json::{Value, json};

use crate::support::{aws_key, gzip, ingest, sql, stderr, stdout, write};

const ACCOUNT: &str = "111111111111";
const DAY: &str = "2024-03-05";

/// One event of a principal of each kind CloudTrail records: IAM user, role session, federated
/// user, AWS service.
fn event(n: usize, batch: usize) -> Value {
    let time = format!(
        "{DAY}T{:02}:{:02}:{:02}Z",
        (n / 3600) % 24,
        (n / 60) % 60,
        n % 60
    );
    let identity = match n % 10 {
        0..=4 => {
            let user = format!("user{:02}", (n * 7) % 40);
            json!({
                "type": "IAMUser", "principalId": format!("AIDA{user}"),
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/{user}"), "accountId": ACCOUNT,
                "accessKeyId": format!("AKIA{user}"), "userName": user
            })
        }
        5..=7 => {
            let role = format!("role{}", (n * 3) % 10);
            let session = format!("session{}", n % 3);
            json!({
                "type": "AssumedRole", "principalId": format!("AROA{role}:{session}"),
                "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}"),
                "accountId": ACCOUNT, "accessKeyId": format!("ASIA{role}{session}"),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role", "principalId": format!("AROA{role}"),
                        "arn": format!("arn:aws:iam::{ACCOUNT}:role/{role}"),
                        "accountId": ACCOUNT, "userName": role
                    },
                    "attributes": {"creationDate": format!("{DAY}T00:00:00Z"), "mfaAuthenticated": "false"}
                }
            })
        }
        8 => json!({
            "type": "FederatedUser", "principalId": format!("{ACCOUNT}:fed{}", n % 2),
            "arn": format!("arn:aws:sts::{ACCOUNT}:federated-user/fed{}", n % 2),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {
                "type": "IAMUser", "principalId": "AIDAbroker",
                "arn": format!("arn:aws:iam::{ACCOUNT}:user/broker"), "accountId": ACCOUNT,
                "userName": "broker"
            }}
        }),
        _ => json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
    };
    json!({
        "eventVersion": "1.08", "userIdentity": identity, "eventTime": time,
        "eventSource": "ec2.amazonaws.com", "eventName": format!("Describe{}", n % 13),
        "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.10", "userAgent": "aws-cli/2.13.0",
        "requestID": format!("req-{batch}-{n}"),
        "eventID": format!("{batch:08x}-0000-4000-8000-{n:012x}"),
        "errorCode": if n.is_multiple_of(11) { Value::from("AccessDenied") } else { Value::Null },
        "eventType": "AwsApiCall", "managementEvent": true, "recipientAccountId": ACCOUNT
    })
}

/// Two ingest runs, so the day's partition has two files, each of several pages (of 4,096 rows).
fn store_of_many_principals() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    for batch in 0..2 {
        let source = dir.path().join(format!("logs{batch}"));
        let records: Vec<Value> = (0..24000).map(|n| event(n, batch)).collect();
        let body = serde_json::to_vec(&json!({ "Records": records })).expect("json");
        write(
            &aws_key(&source, ACCOUNT, "us-east-1", DAY, "0"),
            &gzip(&body),
        );
        let output = ingest(&source, &store, &["--quiet"]);
        assert!(output.status.success(), "ingest: {}", stderr(&output));
    }
    (dir, store)
}

fn count(store: &std::path::Path, filter: &str) -> usize {
    let output = sql(
        store,
        &format!("SELECT count(*) AS n FROM cloudtrail WHERE {filter}"),
    );
    assert!(output.status.success(), "{filter}: {}", stderr(&output));
    stdout(&output)
        .lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{filter}: no count in {}", stdout(&output)))
}

/// Rows the scan handed on, from `EXPLAIN ANALYZE` (printed as `output_rows=2.05 K` or `=512`).
fn rows_scanned(store: &std::path::Path, filter: &str) -> f64 {
    let output = sql(
        store,
        &format!("EXPLAIN ANALYZE SELECT count(*) FROM cloudtrail WHERE {filter}"),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let scan = text
        .lines()
        .find(|line| line.contains("DataSourceExec"))
        .expect("a scan in the plan");
    let value = scan
        .split("output_rows=")
        .nth(1)
        .expect("output_rows metric");
    let digits = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .count();
    let number: f64 = value[..digits].parse().expect("a number");
    match value[digits..].trim_start().chars().next() {
        Some('K') => number * 1e3,
        Some('M') => number * 1e6,
        _ => number,
    }
}

#[test]
fn principal_filters_read_fewer_rows_and_answer_the_same() {
    let (_dir, store) = store_of_many_principals();
    let store = store.as_path();
    let user = |u: usize| format!("'arn:aws:iam::{ACCOUNT}:user/user{u:02}'");
    let role = |r: usize| format!("'arn:aws:iam::{ACCOUNT}:role/role{r}'");
    let session =
        |r: usize, s: usize| format!("'arn:aws:sts::{ACCOUNT}:assumed-role/role{r}/session{s}'");
    let mut filters: Vec<(String, String)> = Vec::new();
    // Each filter, and the same test written so that no index can serve it.
    let mut pair = |served: String, unserved: String| filters.push((served, unserved));
    for u in [0, 7, 13, 39] {
        pair(
            format!("useridentity.arn = {}", user(u)),
            format!("upper(useridentity.arn) = upper({})", user(u)),
        );
        pair(
            format!("useridentity.arn = {} AND errorcode IS NULL", user(u)),
            format!(
                "upper(useridentity.arn) = upper({}) AND errorcode IS NULL",
                user(u)
            ),
        );
    }
    for r in [0, 4, 9] {
        pair(
            format!(
                "useridentity.sessioncontext.sessionissuer.arn = {}",
                role(r)
            ),
            format!(
                "upper(useridentity.sessioncontext.sessionissuer.arn) = upper({})",
                role(r)
            ),
        );
        pair(
            format!("useridentity.arn = {}", session(r, 1)),
            format!("upper(useridentity.arn) = upper({})", session(r, 1)),
        );
    }
    pair(
        format!(
            "useridentity.arn IN ({}, {}, 'arn:aws:iam::{ACCOUNT}:user/nobody')",
            user(3),
            user(21)
        ),
        format!(
            "upper(useridentity.arn) IN (upper({}), upper({}))",
            user(3),
            user(21)
        ),
    );
    pair(
        format!(
            "useridentity.arn = {} OR useridentity.sessioncontext.sessionissuer.arn = {}",
            user(5),
            role(2)
        ),
        format!(
            "upper(useridentity.arn) = upper({}) OR upper(useridentity.sessioncontext.sessionissuer.arn) = upper({})",
            user(5),
            role(2)
        ),
    );
    pair(
        "useridentity.username = 'user11' OR eventname = 'Describe3'".into(),
        "upper(useridentity.username) = 'USER11' OR eventname = 'Describe3'".into(),
    );
    pair(
        format!(
            "useridentity.sessioncontext.sessionissuer.arn = 'arn:aws:iam::{ACCOUNT}:user/broker'"
        ),
        "useridentity.type = 'FederatedUser'".into(),
    );
    pair(
        "useridentity.arn = 'arn:aws:iam::999999999999:user/elsewhere'".into(),
        "false".into(),
    );
    for (served, unserved) in &filters {
        assert_eq!(count(store, served), count(store, unserved), "{served}");
    }

    let total = count(store, "true") as f64;
    assert_eq!(total, 48000.0);
    for filter in [
        format!("useridentity.arn = {}", user(13)),
        format!(
            "useridentity.sessioncontext.sessionissuer.arn = {}",
            role(4)
        ),
    ] {
        let scanned = rows_scanned(store, &filter);
        assert!(
            scanned < total / 2.0,
            "{filter}: the scan handed on {scanned} of {total} rows"
        );
    }
}
