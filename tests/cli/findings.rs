//! `query --all` and `--format json|ndjson|csv`: every principal at once, checked against each
//! principal's own CloudTracker output, against the JSON Schemas in `data/schema/`, and against the
//! records of a generated organization read without ctidx.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::*;

/// Statuses by lower-case action, from CloudTracker's diff.
fn text_statuses(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (marker, rest) = line.split_at_checked(2)?;
            let status = match marker {
                "  " => "used",
                "- " => "unused",
                "? " => "unknown",
                "+ " => "not_granted",
                _ => return None,
            };
            let action = rest.split(" (").next()?;
            Some((action.to_string(), status.to_string()))
        })
        .collect()
}

/// Statuses by lower-case action, from one principal of the JSON document.
fn json_statuses(principal: &Value) -> BTreeMap<String, String> {
    principal["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .map(|action| {
            (
                action["action"].as_str().expect("action").to_lowercase(),
                action["status"].as_str().expect("status").to_string(),
            )
        })
        .collect()
}

fn path_text(path: &Path) -> &str {
    path.to_str().expect("utf-8")
}

fn query(config: &Path, store: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec![
        "query",
        "--config",
        path_text(config),
        "--store",
        path_text(store),
    ];
    all.extend_from_slice(args);
    run(&all)
}

/// The schemas of `data/schema/`, compiled once, by file name.
fn schemas() -> &'static (boon::Schemas, BTreeMap<&'static str, boon::SchemaIndex>) {
    static SCHEMAS: std::sync::OnceLock<(
        boon::Schemas,
        BTreeMap<&'static str, boon::SchemaIndex>,
    )> = std::sync::OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/schema");
        let names = ["findings.schema.json", "findings-row.schema.json"];
        let mut compiler = boon::Compiler::new();
        let mut ids = Vec::new();
        for name in names {
            let text = std::fs::read_to_string(folder.join(name)).expect("schema file");
            let document: Value = serde_json::from_str(&text).expect("schema JSON");
            let id = document["$id"].as_str().expect("$id").to_string();
            compiler
                .add_resource(&id, document)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            ids.push((name, id));
        }
        let mut schemas = boon::Schemas::new();
        let mut indexes = BTreeMap::new();
        for (name, id) in ids {
            let index = compiler
                .compile(&id, &mut schemas)
                .unwrap_or_else(|error| panic!("{name}: {error:#}"));
            indexes.insert(name, index);
        }
        (schemas, indexes)
    })
}

/// Validates `value` against one of the schemas of `data/schema/`.
fn validate(schema: &str, value: &Value) {
    let (schemas, indexes) = schemas();
    if let Err(error) = schemas.validate(value, indexes[schema]) {
        panic!("not valid against {schema}: {error:#}");
    }
}

/// Runs `--all --format json` over the accounts of `config`, then each principal's own `--user` or
/// `--role`, and checks that both give every action the same status. Returns the principals seen.
fn all_agrees_with_each_principal(config: &Path, store: &Path, window: &[&str]) -> usize {
    let mut args = vec!["--all", "--format", "json"];
    args.extend_from_slice(window);
    let output = query(config, store, &args);
    assert!(output.status.success(), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    validate("findings.schema.json", &document);
    let principals = document["principals"].as_array().expect("principals");
    let checks: Vec<&Value> = principals.iter().collect();
    std::thread::scope(|scope| {
        for part in checks.chunks(checks.len().div_ceil(4).max(1)) {
            scope.spawn(move || {
                for principal in part {
                    let flag = match principal["type"].as_str() {
                        Some("user") => "--user",
                        _ => "--role",
                    };
                    let account = principal["account"].as_str().expect("account");
                    let name = principal["name"].as_str().expect("name");
                    let mut args = vec!["--account", account, flag, name];
                    args.extend_from_slice(window);
                    let own = query(config, store, &args);
                    assert!(own.status.success(), "{name}: {}", stderr(&own));
                    assert_eq!(
                        json_statuses(principal),
                        text_statuses(&stdout(&own)),
                        "{}: --all --format json and {flag} {name} differ",
                        principal["arn"]
                    );
                }
            });
        }
    });
    principals.len()
}

#[test]
fn demo_all_gives_each_principal_its_own_statuses() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let seen = all_agrees_with_each_principal(&config, &store, &["--start", "2018-01-01"]);
    assert_eq!(
        seen, 5,
        "alice, bob, charlie and admin in demo; admin in backup"
    );
}

#[test]
fn demo_all_as_text_is_each_principals_own_output_in_turn() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let all = query(&config, &store, &["--all", "--start", "2018-01-01"]);
    assert!(all.status.success(), "{}", stderr(&all));
    let mut expected = String::new();
    for (account, principals) in [
        (
            "demo (111111111111)",
            &[
                ("demo", "--user", "alice"),
                ("demo", "--user", "bob"),
                ("demo", "--user", "charlie"),
                ("demo", "--role", "admin"),
            ][..],
        ),
        (
            "backup (222222222222)",
            &[("backup", "--role", "admin")][..],
        ),
    ] {
        expected.push_str(&format!("== account {account}\n"));
        for (account, flag, name) in principals {
            let own = query(
                &config,
                &store,
                &["--account", account, flag, name, "--start", "2018-01-01"],
            );
            assert!(own.status.success(), "{}", stderr(&own));
            expected.push_str(&stdout(&own));
        }
    }
    assert_eq!(stdout(&all), expected);
}

#[test]
fn one_principal_as_json_is_its_part_of_all() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let window = ["--start", "2018-01-01", "--end", "2018-03-31"];
    let one = query(
        &config,
        &store,
        &[
            "--account",
            "demo",
            "--user",
            "alice",
            "--format",
            "json",
            window[0],
            window[1],
            window[2],
            window[3],
        ],
    );
    assert!(one.status.success(), "{}", stderr(&one));
    let one: Value = serde_json::from_slice(&one.stdout).expect("JSON");
    validate("findings.schema.json", &one);
    let all = query(
        &config,
        &store,
        &[
            "--all", "--format", "json", window[0], window[1], window[2], window[3],
        ],
    );
    let all: Value = serde_json::from_slice(&all.stdout).expect("JSON");
    let alice = all["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .find(|p| p["arn"] == "arn:aws:iam::111111111111:user/alice")
        .expect("alice");
    assert_eq!(&one["principals"][0], alice);
    assert_eq!(
        one["window"],
        json!({"start": "2018-01-01", "end": "2018-03-31"})
    );

    // What the demo's logs say of alice: its calls, refusals and the resources it named.
    assert_eq!(alice["type"], "user");
    assert_eq!(alice["created"], "2017-09-02T18:02:14Z");
    assert_eq!(alice["idle"], false);
    assert_eq!(alice["last_activity"], "2018-03-27T17:02:00Z");
    let action = |name: &str| {
        alice["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .find(|a| a["action"] == name)
            .unwrap_or_else(|| panic!("{name}"))
            .clone()
    };
    let alarms = action("cloudwatch:DescribeAlarms");
    assert_eq!(
        (&alarms["status"], &alarms["calls"], &alarms["access_level"]),
        (&json!("used"), &json!(13), &json!("Read"))
    );
    let assume = action("sts:AssumeRole");
    assert_eq!(
        assume["resources"],
        json!(["arn:aws:iam::111111111111:role/admin"])
    );
    assert_eq!(assume["grant"]["all_resources"], false);
    assert_eq!(assume["grant"]["statements"][0]["attachment"], "inline");
    let bucket = action("s3:CreateBucket");
    assert_eq!(
        (&bucket["status"], &bucket["grant"]),
        (&json!("not_granted"), &json!(null))
    );
}

#[test]
fn rows_are_the_documents_actions_with_their_principal_and_csv_matches_ndjson() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let window = ["--start", "2018-01-01", "--end", "2018-03-31"];
    let run_format = |format: &str, extra: &[&str]| {
        let mut args = vec!["--all", "--format", format];
        args.extend_from_slice(&window);
        args.extend_from_slice(extra);
        let output = query(&config, &store, &args);
        assert!(output.status.success(), "{}", stderr(&output));
        output.stdout
    };
    for filters in [
        &[][..],
        &["--show-used"][..],
        &["--ignore-benign", "--ignore-unknown"][..],
    ] {
        let document: Value = serde_json::from_slice(&run_format("json", filters)).expect("JSON");
        let rows: Vec<Value> = String::from_utf8(run_format("ndjson", filters))
            .expect("utf-8")
            .lines()
            .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
            .collect();
        let expected: Vec<(String, String, String)> = document["principals"]
            .as_array()
            .expect("principals")
            .iter()
            .flat_map(|p| {
                p["actions"].as_array().expect("actions").iter().map(|a| {
                    (
                        p["arn"].as_str().expect("arn").to_string(),
                        a["action"].as_str().expect("action").to_string(),
                        a["status"].as_str().expect("status").to_string(),
                    )
                })
            })
            .collect();
        let found: Vec<(String, String, String)> = rows
            .iter()
            .map(|row| {
                validate("findings-row.schema.json", row);
                (
                    row["principal_arn"].as_str().expect("arn").to_string(),
                    row["action"].as_str().expect("action").to_string(),
                    row["status"].as_str().expect("status").to_string(),
                )
            })
            .collect();
        assert_eq!(found, expected, "{filters:?}");
        if filters.contains(&"--show-used") {
            assert!(
                found
                    .iter()
                    .all(|(_, _, s)| s == "used" || s == "not_granted")
            );
        }

        let csv_bytes = run_format("csv", filters);
        let mut reader = csv::Reader::from_reader(&csv_bytes[..]);
        let header: Vec<String> = reader
            .headers()
            .expect("header")
            .iter()
            .map(str::to_string)
            .collect();
        let records: Vec<csv::StringRecord> =
            reader.records().map(|r| r.expect("a CSV row")).collect();
        assert_eq!(records.len(), rows.len());
        for (record, row) in records.iter().zip(&rows) {
            let object = row.as_object().expect("object");
            assert_eq!(header.len(), object.len());
            for (column, field) in header.iter().zip(record.iter()) {
                let value = &object[column];
                let expected = match value {
                    Value::Null => String::new(),
                    Value::String(text) => text.clone(),
                    Value::Array(items) if column == "resources" => items
                        .iter()
                        .map(|i| i.as_str().expect("ARN"))
                        .collect::<Vec<_>>()
                        .join(" "),
                    Value::Array(items) => items
                        .iter()
                        .map(|s| {
                            let policy = s["policy_arn"].as_str().map_or_else(
                                || match s["group"].as_str() {
                                    Some(group) => format!(
                                        "{group}/{}",
                                        s["policy"].as_str().unwrap_or_default()
                                    ),
                                    None => s["policy"].as_str().unwrap_or_default().to_string(),
                                },
                                str::to_string,
                            );
                            format!(
                                "{}:{policy}#{}",
                                s["attachment"].as_str().unwrap_or_default(),
                                s["statement"]
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                    other => other.to_string(),
                };
                assert_eq!(field, expected, "column {column}");
            }
        }
    }
}

#[test]
fn list_takes_several_accounts() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let users = query(
        &config,
        &store,
        &["--list", "users", "--start", "2018-01-01"],
    );
    assert!(users.status.success(), "{}", stderr(&users));
    assert_eq!(
        stdout(&users),
        "== account demo (111111111111)\n  alice\n- bob\n  charlie\n== account backup (222222222222)\n"
    );
    let one = query(
        &config,
        &store,
        &[
            "--list",
            "roles",
            "--account",
            "backup",
            "--start",
            "2018-01-01",
        ],
    );
    assert_eq!(stdout(&one), "  admin\n");
}

/// A config whose accounts each go wrong in their own way, beside the demo account.
#[test]
fn accounts_that_cannot_be_reported_are_named_and_the_others_still_are() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo_iam: Value = serde_json::from_str(
        &std::fs::read_to_string(demo_dir().join("iam/demo.json")).expect("demo snapshot"),
    )
    .expect("JSON");
    let mut with_stranger = demo_iam.clone();
    with_stranger["UserDetailList"]
        .as_array_mut()
        .expect("users")
        .push(json!({"UserName": "stranger", "UserId": "AIDASTRANGER", "Arn": "arn:aws:iam::666666666666:user/stranger", "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [], "AttachedManagedPolicies": []}));
    write(
        &dir.path().join("demo.json"),
        with_stranger.to_string().as_bytes(),
    );
    write(&dir.path().join("broken.json"), b"{\"UserDetailList\": [");
    write(
        &dir.path().join("quiet.json"),
        json!({"UserDetailList": [{"UserName": "nobody", "UserId": "AIDANOBODY", "Arn": "arn:aws:iam::555555555555:user/nobody", "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [], "AttachedManagedPolicies": []}], "GroupDetailList": [], "RoleDetailList": [], "Policies": []})
            .to_string()
            .as_bytes(),
    );
    let config = dir.path().join("config.yaml");
    write(
        &config,
        b"accounts:\n  - name: demo\n    id: 111111111111\n    iam: demo.json\n  - name: nosnapshot\n    id: 333333333333\n  - name: broken\n    id: 444444444444\n    iam: broken.json\n  - name: quiet\n    id: 555555555555\n    iam: quiet.json\n",
    );
    let store = demo_store().join("store");
    let output = query(
        &config,
        &store,
        &[
            "--all",
            "--format",
            "json",
            "--start",
            "2018-01-01",
            "--end",
            "2018-03-31",
        ],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    validate("findings.schema.json", &document);
    let names: Vec<&str> = document["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .map(|p| p["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["alice", "bob", "charlie", "admin"]);
    let reported: Vec<(&str, bool)> = document["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .map(|a| (a["name"].as_str().expect("name"), a["reported"] == true))
        .collect();
    assert_eq!(
        reported,
        [
            ("demo", true),
            ("nosnapshot", false),
            ("broken", false),
            ("quiet", false)
        ]
    );
    let problems = document["problems"].as_array().expect("problems");
    let problem = |account: &str| -> Vec<(bool, String)> {
        problems
            .iter()
            .filter(|p| p["account"] == account)
            .map(|p| {
                (
                    p["left_out"] == true,
                    p["message"].as_str().expect("message").to_string(),
                )
            })
            .collect()
    };
    let stranger = problem("111111111111");
    assert_eq!(stranger.len(), 1, "{stranger:?}");
    assert!(!stranger[0].0);
    assert!(
        stranger[0]
            .1
            .contains("arn:aws:iam::666666666666:user/stranger"),
        "{stranger:?}"
    );
    let nosnapshot = problem("333333333333");
    assert!(
        nosnapshot[0].0 && nosnapshot[0].1.contains("has no IAM snapshot"),
        "{nosnapshot:?}"
    );
    let broken = problem("444444444444");
    assert!(
        broken[0].0 && broken[0].1.contains("broken.json"),
        "{broken:?}"
    );
    let quiet = problem("555555555555");
    assert!(
        quiet[0].0 && quiet[0].1.contains("no logs of account quiet"),
        "{quiet:?}"
    );
    let errors = stderr(&output);
    for needle in [
        "has no IAM snapshot",
        "broken.json",
        "no logs of account quiet",
        "stranger",
    ] {
        assert!(errors.contains(needle), "{needle} not in: {errors}");
    }
}

#[test]
fn windows_without_logs_and_backwards_windows() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let later = query(
        &config,
        &store,
        &[
            "--all",
            "--format",
            "json",
            "--start",
            "2030-01-01",
            "--end",
            "2030-01-31",
        ],
    );
    assert_eq!(later.status.code(), Some(1));
    let document: Value = serde_json::from_slice(&later.stdout).expect("JSON");
    assert_eq!(document["principals"], json!([]));
    assert!(
        stderr(&later)
            .contains("no logs of account demo (111111111111) from 2030-01-01 to 2030-01-31"),
        "{}",
        stderr(&later)
    );
    let backwards = query(
        &config,
        &store,
        &["--all", "--start", "2018-03-01", "--end", "2018-02-01"],
    );
    assert_eq!(backwards.status.code(), Some(2));
    assert!(
        stderr(&backwards).contains("2018-03-01"),
        "{}",
        stderr(&backwards)
    );
    let several = query(
        &config,
        &store,
        &[
            "--user",
            "alice",
            "--account",
            "demo",
            "--account",
            "backup",
        ],
    );
    assert_eq!(several.status.code(), Some(2));
    assert!(
        stderr(&several).contains("take one --account"),
        "{}",
        stderr(&several)
    );
}

/// Whether it is a user, its name and its ARN.
pub(crate) type SnapshotPrincipal = (bool, String, String);

/// The ARNs of an IAM snapshot's users and roles, and its account; `None` when no principal names
/// an account (a snapshot of policies only, or hand-edited ARNs such as `arn:aws:iam::aws:user/x`).
fn snapshot_principals(snapshot: &Value) -> Option<(String, Vec<SnapshotPrincipal>)> {
    let mut principals = Vec::new();
    for (list, is_user, name_key) in [
        ("UserDetailList", true, "UserName"),
        ("RoleDetailList", false, "RoleName"),
    ] {
        for entry in snapshot[list].as_array().into_iter().flatten() {
            let (Some(arn), Some(name)) = (entry["Arn"].as_str(), entry[name_key].as_str()) else {
                continue;
            };
            principals.push((is_user, name.to_string(), arn.to_string()));
        }
    }
    let is_account = |id: &&str| id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
    let account = principals
        .iter()
        .find_map(|(_, _, arn)| arn.split(':').nth(4).filter(is_account).map(str::to_string))?;
    principals.retain(|(_, _, arn)| arn.split(':').nth(4) == Some(account.as_str()));
    Some((account, principals))
}

/// Every record of the real logs, made by the snapshot's principals in turn.
fn records_as(
    records: &[Value],
    account: &str,
    principals: &[(bool, String, String)],
) -> Vec<Value> {
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let mut record = record.clone();
            let (is_user, name, arn) = &principals[index % principals.len()];
            record["userIdentity"] = if *is_user {
                json!({"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": arn, "accountId": account, "userName": name})
            } else {
                json!({"type": "AssumedRole", "principalId": "AROAEXAMPLE:s", "arn": format!("arn:aws:sts::{account}:assumed-role/{name}/s"), "accountId": account,
                       "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLE", "arn": arn, "accountId": account, "userName": name}}})
            };
            record["recipientAccountId"] = json!(account);
            record
        })
        .collect()
}

fn real_records(root: &Path) -> Vec<Value> {
    let mut records: Vec<Value> = files_under(root)
        .iter()
        .filter_map(|path| log_records(path))
        .flatten()
        .collect();
    records.retain(|r| r["eventTime"].is_string() && r["eventSource"].is_string());
    records
}

/// A real snapshot's account, with the real records replayed as its principals and ingested: the
/// config (account `real`) and store to query.
pub(crate) struct Replayed {
    _dir: tempfile::TempDir,
    pub config: PathBuf,
    pub store: PathBuf,
    pub principals: Vec<SnapshotPrincipal>,
}

/// Every real-data snapshot that holds users or roles of an account, replayed.
pub(crate) fn replayed_snapshots() -> Vec<(PathBuf, Replayed)> {
    let root = realdata_dir();
    let records = real_records(&root.join("cloudtrail"));
    let snapshots: Vec<PathBuf> = files_under(&root.join("iam"))
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(snapshots.len() >= 3, "{snapshots:?}");
    let mut replayed = Vec::new();
    for snapshot_path in snapshots {
        let snapshot: Value =
            serde_json::from_str(&std::fs::read_to_string(&snapshot_path).expect("read"))
                .expect("JSON");
        let Some((account, principals)) = snapshot_principals(&snapshot) else {
            eprintln!(
                "{}: no user or role of an account, left out",
                snapshot_path.display()
            );
            continue;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let logs = dir.path().join("logs");
        let body =
            serde_json::to_vec(&json!({"Records": records_as(&records, &account, &principals)}))
                .expect("JSON");
        write(
            &aws_key(&logs, &account, "us-east-1", "2023-07-10", "real"),
            &gzip(&body),
        );
        let store = dir.path().join("store");
        let output = ingest(&logs, &store, &["--quiet"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let config = dir.path().join("config.yaml");
        write(
            &config,
            format!(
                "accounts:\n  - name: real\n    id: \"{account}\"\n    iam: {}\n",
                snapshot_path.display()
            )
            .as_bytes(),
        );
        replayed.push((
            snapshot_path,
            Replayed {
                _dir: dir,
                config,
                store,
                principals,
            },
        ));
    }
    replayed
}

#[test]
#[ignore = "needs CTIDX_REALDATA_DIR"]
fn real_snapshots_all_gives_each_principal_its_own_statuses() {
    let (mut total, mut checked) = (0, 0);
    for (snapshot_path, replayed) in replayed_snapshots() {
        let seen = all_agrees_with_each_principal(
            &replayed.config,
            &replayed.store,
            &["--start", "2015-01-01", "--end", "2025-12-31"],
        );
        assert_eq!(
            seen,
            replayed.principals.len(),
            "{}",
            snapshot_path.display()
        );
        total += seen;
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} snapshots with principals");
    eprintln!("{checked} snapshots, {total} principals: --all agrees with each");
}

/// The error codes that mean a call was refused for lack of permission, as `sql/all_calls.sql`
/// lists them.
const DENIED: [&str; 8] = [
    "AccessDenied",
    "AccessDeniedException",
    "Client.UnauthorizedOperation",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
];

/// What one principal did, counted from the generated files.
#[derive(Default)]
struct Truth {
    /// Successful calls by (event type, event source, event name).
    calls: BTreeMap<(Option<String>, String, String), u64>,
    denied: u64,
    last: Option<String>,
}

#[test]
#[ignore = "needs CTIDX_GENERATOR (benchmarks' gen_cloudtrail.py)"]
fn generated_organization_matches_its_records_read_without_ctidx() {
    let generator = std::env::var_os("CTIDX_GENERATOR")
        .map(PathBuf::from)
        .expect("CTIDX_GENERATOR must name gen_cloudtrail.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let org = dir.path().join("org");
    let generated = std::process::Command::new("python3")
        .arg(&generator)
        .args([
            "--out",
            path_text(&org),
            "--events",
            "40000",
            "--accounts",
            "3",
        ])
        .args(["--days", "6", "--seed", "7", "--jobs", "2"])
        .output()
        .expect("python3 runs");
    assert!(generated.status.success(), "{}", stderr(&generated));
    let store = dir.path().join("store");
    let output = ingest(&org.join("AWSLogs"), &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Every record, read with serde_json alone.
    let mut truth: BTreeMap<(String, String), Truth> = BTreeMap::new();
    for path in files_under(&org.join("AWSLogs")) {
        let text = path.to_string_lossy().to_string();
        if text.contains("CloudTrail-Digest") {
            continue;
        }
        let account = text
            .split("/AWSLogs/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("AWSLogs/<account>/")
            .to_string();
        let Some(records) = log_records(&path) else {
            continue;
        };
        for record in &records {
            let identity = &record["userIdentity"];
            let arn = match identity["type"].as_str() {
                Some("IAMUser") => identity["arn"].as_str(),
                Some("AssumedRole") => identity["sessionContext"]["sessionIssuer"]["arn"].as_str(),
                _ => None,
            };
            let Some(arn) = arn else { continue };
            let entry = truth.entry((account.clone(), arn.to_string())).or_default();
            match record["errorCode"].as_str() {
                None => {
                    let key = (
                        record["eventType"].as_str().map(str::to_string),
                        record["eventSource"].as_str().expect("source").to_string(),
                        record["eventName"].as_str().expect("name").to_string(),
                    );
                    *entry.calls.entry(key).or_default() += 1;
                    let time = record["eventTime"].as_str().expect("time").to_string();
                    if entry.last.as_ref().is_none_or(|last| *last < time) {
                        entry.last = Some(time);
                    }
                }
                Some(code) if DENIED.contains(&code) => entry.denied += 1,
                Some(_) => {}
            }
        }
    }

    // Only the actions used (the ones compared below): with every principal's unused grants the
    // document took this test process to about 16 GB.
    let output = query(
        &org.join("config.yaml"),
        &store,
        &[
            "--all",
            "--show-used",
            "--format",
            "json",
            "--start",
            "2024-03-01",
            "--end",
            "2024-03-31",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let document: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    validate("findings.schema.json", &document);
    let active: Vec<&Value> = document["principals"]
        .as_array()
        .expect("principals")
        .iter()
        .filter(|p| p["idle"] == false)
        .collect();
    assert!(
        active.len() >= 40,
        "only {} active principals",
        active.len()
    );
    let step = active.len() / 20;
    let chosen: Vec<&Value> = active.iter().step_by(step).take(20).copied().collect();
    assert!(
        chosen.iter().any(|p| p["type"] == "user") && chosen.iter().any(|p| p["type"] == "role")
    );

    let catalogue = ctidx::iam::catalogue::Catalogue::embedded();
    for principal in chosen {
        let arn = principal["arn"].as_str().expect("arn");
        let account = principal["account"].as_str().expect("account");
        let expected = &truth[&(account.to_string(), arn.to_string())];
        let mut expected_calls: BTreeMap<String, u64> = BTreeMap::new();
        for ((event_type, source, name), count) in &expected.calls {
            if let ctidx::mapping::Mapping::Actions(ids) =
                ctidx::mapping::map_record(catalogue, event_type.as_deref(), source, name)
            {
                let distinct: std::collections::BTreeSet<_> = ids.into_iter().collect();
                for id in distinct {
                    *expected_calls.entry(catalogue.display(id)).or_default() += count;
                }
            }
        }
        let found_calls: BTreeMap<String, u64> = principal["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .filter(|a| a["calls"].as_u64() > Some(0))
            .map(|a| {
                assert!(
                    a["status"] == "used" || a["status"] == "not_granted",
                    "{arn}: {a}"
                );
                (
                    a["action"].as_str().expect("action").to_lowercase(),
                    a["calls"].as_u64().expect("calls"),
                )
            })
            .collect();
        assert!(!found_calls.is_empty(), "{arn}");
        assert_eq!(found_calls, expected_calls, "{arn}: used actions and calls");
        assert_eq!(
            principal["denied_calls"],
            json!(expected.denied),
            "{arn}: refused calls"
        );
        assert_eq!(
            principal["last_activity"],
            json!(expected.last),
            "{arn}: last activity"
        );
    }

    summaries_change_no_answer(&org.join("config.yaml"), &store);
}

/// `query --all` gives the same bytes whether they read the activity summaries written
/// with the data, or the events (summaries removed, as in a store written before they existed), and
/// again once `ctidx compact` has written the summaries back (of the files it merges, and of any
/// other). Windows of whole and partial months.
fn summaries_change_no_answer(config: &Path, store: &Path) {
    let answers = |store: &Path, read: &str| -> Vec<Vec<u8>> {
        let mut answers = Vec::new();
        for (format, window) in [
            ("ndjson", ["2024-03-01", "2024-03-31"]),
            ("csv", ["2024-03-02", "2024-03-03"]),
            ("json", ["2024-02-01", "2024-04-30"]),
        ] {
            // Only the used actions: the rows the activity decides, without the millions of
            // rows of unused ones.
            let output = query(
                config,
                store,
                &[
                    "-v",
                    "--all",
                    "--show-used",
                    "--format",
                    format,
                    "--start",
                    window[0],
                    "--end",
                    window[1],
                ],
            );
            assert!(output.status.success(), "{}", stderr(&output));
            assert!(stderr(&output).contains(read), "{}", stderr(&output));
            assert!(output.stdout.len() > 1000, "{format} {window:?}");
            answers.push(output.stdout);
        }
        answers
    };
    let summaries = store.join("_ctidx").join("activity");
    assert!(summaries.is_dir(), "ingest writes the activity summaries");
    let (summaries_read, events_read) = (
        "reading the store's activity summaries",
        "reading the events",
    );
    let summarized = answers(store, summaries_read);
    std::fs::remove_dir_all(&summaries).expect("removes the summaries");
    assert!(
        summarized == answers(store, events_read),
        "the events give another answer than the summaries"
    );
    let output = run(&["compact", "--store", path_text(store)]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(summaries.is_dir(), "compact writes the summaries back");
    assert!(
        summarized == answers(store, summaries_read),
        "the rewritten summaries give another answer"
    );
}

#[test]
fn all_by_session_gives_each_role_its_own_by_session_output() {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let window = ["--start", "2018-01-01", "--end", "2018-03-31"];
    let mut args = vec!["--all", "--by-session", "--account", "demo"];
    args.extend_from_slice(&window);
    let all = query(&config, &store, &args);
    assert!(all.status.success(), "{}", stderr(&all));
    let mut own_args = vec!["--account", "demo", "--role", "admin", "--by-session"];
    own_args.extend_from_slice(&window);
    let own = query(&config, &store, &own_args);
    assert!(own.status.success(), "{}", stderr(&own));
    let own = stdout(&own);
    assert!(
        own.contains("alice\n") && own.contains("charlie\n"),
        "{own}"
    );
    assert!(stdout(&all).ends_with(&own), "{}\n---\n{own}", stdout(&all));

    args.extend_from_slice(&["--format", "json"]);
    let document: Value =
        serde_json::from_slice(&query(&config, &store, &args).stdout).expect("JSON");
    validate("findings.schema.json", &document);
    let admin = &document["principals"][3];
    assert_eq!(admin["name"], "admin");
    let people: Vec<(String, Vec<String>)> = admin["people"]
        .as_array()
        .expect("people")
        .iter()
        .map(|p| {
            (
                p["person"].as_str().expect("person").to_string(),
                p["actions"]
                    .as_array()
                    .expect("actions")
                    .iter()
                    .map(|a| a["action"].as_str().expect("action").to_lowercase())
                    .collect(),
            )
        })
        .collect();
    let mut expected: Vec<(String, Vec<String>)> = Vec::new();
    for line in own.lines().skip(1) {
        match line.strip_prefix("  ") {
            Some(action) => expected.last_mut().expect("a person first").1.push(
                action
                    .trim_start_matches(['+', ' '])
                    .split(" (")
                    .next()
                    .expect("action")
                    .to_string(),
            ),
            None => expected.push((line.to_string(), Vec::new())),
        }
    }
    assert_eq!(people, expected);
    assert!(
        document["principals"][0].get("people").is_none(),
        "users have no people"
    );

    let last = args.len() - 1;
    args[last] = "ndjson";
    let rows = stdout(&query(&config, &store, &args));
    let people_rows = rows
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("JSON"))
        .inspect(|row| validate("findings-row.schema.json", row))
        .filter(|row| !row["person"].is_null())
        .count();
    assert_eq!(
        people_rows,
        expected.iter().map(|(_, a)| a.len()).sum::<usize>()
    );
}

/// Only the selected accounts' partitions are read: with every file of the demo account broken,
/// `--all --account backup` still answers, and `--all --account demo` fails naming the problem.
#[test]
fn all_reads_only_the_selected_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let original = demo_store().join("store");
    for path in files_under(&original) {
        let relative = path.strip_prefix(&original).expect("inside the store");
        let target = store.join(relative);
        std::fs::create_dir_all(target.parent().expect("a folder")).expect("mkdir");
        if path.extension().is_some_and(|e| e == "parquet")
            && relative.starts_with("account=111111111111")
        {
            std::fs::write(&target, b"not parquet").expect("write");
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
    let config = demo_dir().join("config.yaml");
    let window = ["--start", "2018-01-01", "--end", "2018-03-31"];
    let mut args = vec!["--all", "--account", "backup", "--format", "json"];
    args.extend_from_slice(&window);
    let backup = query(&config, &store, &args);
    assert!(backup.status.success(), "{}", stderr(&backup));
    let document: Value = serde_json::from_slice(&backup.stdout).expect("JSON");
    assert_eq!(
        document["principals"][0]["arn"],
        "arn:aws:iam::222222222222:role/admin"
    );
    args[2] = "demo";
    let demo = query(&config, &store, &args);
    assert!(!demo.status.success(), "the broken files were not read");
}
