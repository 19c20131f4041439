//! `ctidx report`: the demo's report read back two ways. Its embedded data, decoded as the page
//! decodes it, must say what `query --all --format json` and `ctidx policy` say. And a real headless
//! Chromium opens the file from disk, runs its script, and shows bob idle, alice's diff and her
//! calls per day; it writes screenshots of the summary and of alice to the test's output folder.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::support::*;

/// The demo's report (2018-01-01 to 2018-03-31), written once for all tests.
fn demo_report() -> &'static Path {
    static REPORT: OnceLock<tempfile::TempDir> = OnceLock::new();
    REPORT
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let out = dir.path().join("report.html");
            let output = report(&["--out", out.to_str().expect("utf-8")]);
            assert!(output.status.success(), "{}", stderr(&output));
            dir
        })
        .path()
}

fn report(args: &[&str]) -> std::process::Output {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let mut all = vec![
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "report",
        "--start",
        "2018-01-01",
        "--end",
        "2018-03-31",
    ];
    all.extend_from_slice(args);
    run(&all)
}

fn page() -> String {
    std::fs::read_to_string(demo_report().join("report.html")).expect("report written")
}

/// The page's data: base64 of gzip of JSON.
fn data(page: &str) -> Value {
    use base64::Engine;
    let start = page.find(r#"id="ctidx-data""#).expect("the data element");
    let open = start + page[start..].find('>').expect("element opens") + 1;
    let close = open + page[open..].find("</script>").expect("element closes");
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(page[open..close].trim())
        .expect("base64");
    let mut json = String::new();
    flate2::read::GzDecoder::new(compressed.as_slice())
        .read_to_string(&mut json)
        .expect("gzip");
    serde_json::from_str(&json).expect("JSON")
}

/// Each action of one principal with its status, decoded as the page's script decodes it.
fn diff_of(data: &Value, principal: &Value) -> BTreeMap<String, String> {
    let name = |pos: u64| {
        let action = &data["actions"][pos as usize];
        format!(
            "{}:{}",
            data["services"][action[0].as_u64().expect("service") as usize]
                .as_str()
                .expect("text"),
            action[1].as_str().expect("name")
        )
    };
    let unrecorded: BTreeSet<u64> = data["unrecorded"]
        .as_array()
        .expect("unrecorded")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let holding = &data["holdings"][principal["holding"].as_u64().expect("holding") as usize];
    let flip: BTreeSet<u64> = holding["flip"]
        .as_array()
        .expect("flip")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let runs: Vec<u64> = holding["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter_map(Value::as_u64)
        .collect();
    let mut diff = BTreeMap::new();
    for run in runs.chunks(3) {
        for pos in run[0]..run[0] + run[1] {
            let unknown = unrecorded.contains(&pos) != flip.contains(&pos);
            diff.insert(name(pos), if unknown { "unknown" } else { "unused" }.into());
        }
    }
    for used in principal["used"].as_array().expect("used") {
        let status = data["statuses"][used[1].as_u64().expect("status") as usize]
            .as_str()
            .expect("text");
        diff.insert(name(used[0].as_u64().expect("pos")), status.into());
    }
    diff
}

/// Every principal of the report has the statuses and last activity `query --all --format json`
/// gives it.
fn assert_agrees_with_query(data: &Value, query: &Value) {
    let principals = data["principals"].as_array().expect("principals");
    let expected = query["principals"].as_array().expect("principals");
    assert_eq!(principals.len(), expected.len());
    for (found, wanted) in principals.iter().zip(expected) {
        assert_eq!(found["arn"], wanted["arn"]);
        let statuses: BTreeMap<String, String> = wanted["actions"]
            .as_array()
            .expect("actions")
            .iter()
            .map(|action| {
                (
                    action["action"].as_str().expect("action").to_string(),
                    action["status"].as_str().expect("status").to_string(),
                )
            })
            .collect();
        assert_eq!(diff_of(data, found), statuses, "{}", found["arn"]);
        assert_eq!(found["last"], wanted["last_activity"], "{}", found["arn"]);
    }
}

#[test]
#[ignore = "needs CTIDX_REALDATA_DIR"]
fn real_snapshots_report_what_query_all_finds() {
    let mut principals = 0;
    for (snapshot, replayed) in crate::findings::replayed_snapshots() {
        let out = replayed.store.with_file_name("report.html");
        let common = [
            "--config",
            replayed.config.to_str().expect("utf-8"),
            "--store",
            replayed.store.to_str().expect("utf-8"),
        ];
        let window = ["--start", "2015-01-01", "--end", "2025-12-31"];
        let mut args = common.to_vec();
        args.extend(["report", "--out", out.to_str().expect("utf-8")]);
        args.extend(window);
        let output = run(&args);
        assert!(
            output.status.success(),
            "{}: {}",
            snapshot.display(),
            stderr(&output)
        );
        let mut args = common.to_vec();
        args.extend(["query", "--all", "--format", "json"]);
        args.extend(window);
        let output = run(&args);
        assert!(output.status.success(), "{}", stderr(&output));
        let query: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let data = data(&std::fs::read_to_string(&out).expect("report"));
        assert_agrees_with_query(&data, &query);
        principals += data["principals"].as_array().map_or(0, Vec::len);
    }
    assert!(principals > 0);
    eprintln!("{principals} real principals: the report agrees with query --all");
}

#[test]
fn the_embedded_data_says_what_query_and_policy_say() {
    let page = page();
    let data = data(&page);
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let output = run(&[
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "query",
        "--all",
        "--start",
        "2018-01-01",
        "--end",
        "2018-03-31",
        "--format",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let query: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_agrees_with_query(&data, &query);
    let principals = data["principals"].as_array().expect("principals");
    assert_eq!(principals.len(), 5, "three users and two roles");
    // Each policy is the one `ctidx policy` writes.
    for (kind, name) in [
        ("--user", "alice"),
        ("--user", "charlie"),
        ("--role", "admin"),
    ] {
        let output = run(&[
            "--config",
            config.to_str().expect("utf-8"),
            "--store",
            store.to_str().expect("utf-8"),
            "policy",
            "--account",
            "demo",
            kind,
            name,
            "--start",
            "2018-01-01",
            "--end",
            "2018-03-31",
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let principal = principals
            .iter()
            .find(|p| p["name"] == name && p["account"] == 0)
            .expect("in the report");
        assert_eq!(
            principal["policy"]["text"].as_str().expect("a policy"),
            stdout(&output).trim_end(),
            "{name}"
        );
    }
    let bob = principals.iter().find(|p| p["name"] == "bob").expect("bob");
    assert!(bob["last"].is_null(), "bob is idle");
    assert!(
        bob["policy"]["error"].is_string(),
        "an idle user needs no policy"
    );
    // The admin role's sessions: alice and charlie.
    let admin = &principals[3];
    let people: Vec<&str> = admin["people"]
        .as_array()
        .expect("people")
        .iter()
        .filter_map(|p| p[0].as_str())
        .collect();
    assert_eq!(
        people,
        [
            "arn:aws:iam::111111111111:user/alice",
            "arn:aws:iam::111111111111:user/charlie"
        ]
    );
    // Alice's calls per day: every successful call of hers in the window.
    let alice = &principals[0];
    let total: u64 = alice["daily"]
        .as_array()
        .expect("daily")
        .iter()
        .filter_map(|day| day[1].as_u64())
        .sum();
    let counted = sql(
        &store,
        "SELECT count(*) FROM cloudtrail WHERE useridentity.arn = 'arn:aws:iam::111111111111:user/alice' \
         AND errorcode IS NULL AND day BETWEEN '2018-01-01' AND '2018-03-31'",
    );
    assert_eq!(
        stdout(&counted).lines().nth(1),
        Some(total.to_string().as_str())
    );
}

#[test]
fn the_page_loads_nothing_from_the_network() {
    let page = page();
    assert!(!page.contains("<link"), "no stylesheet or font is fetched");
    assert!(!page.contains("@import"));
    for attribute in ["src=", "href=", "url("] {
        for (at, _) in page.match_indices(attribute) {
            let value: String = page[at + attribute.len()..]
                .trim_start_matches(['"', '\'', ' '])
                .chars()
                .take(60)
                .collect();
            let remote = value.starts_with("http://")
                || value.starts_with("https://")
                || value.starts_with("//");
            assert!(
                !remote || value.starts_with("https://docs.aws.amazon.com/"),
                "{attribute}{value}"
            );
        }
    }
    // The script builds links and images at run time: none of its text is a remote address.
    let script = include_str!("../../src/render/report/page.js");
    assert!(!script.contains("http://") && !script.contains("https://"));
}

#[test]
fn a_report_is_replaced_whole_and_a_bad_destination_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("r.html");
    std::fs::write(&out, "old").expect("write");
    let output = report(&["--out", out.to_str().expect("utf-8"), "--no-sessions"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = std::fs::read_to_string(&out).expect("read");
    assert!(written.starts_with("<!DOCTYPE html>") && written.trim_end().ends_with("</html>"));
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("list").count(),
        1,
        "no temporary file is left"
    );
    let missing = dir.path().join("no/such/folder/r.html");
    let output = report(&["--out", missing.to_str().expect("utf-8")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no/such/folder"),
        "{}",
        stderr(&output)
    );
}

/// Debian's `chromium`, installed when missing (the tests install what they need).
fn chromium() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let find = || {
                ["chromium", "chromium-browser"].iter().find_map(|name| {
                    Command::new("which")
                        .arg(name)
                        .output()
                        .ok()
                        .filter(|o| o.status.success())
                        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
                })
            };
            if let Some(found) = find() {
                return found;
            }
            apt_install("chromium");
            find().expect("chromium installed")
        })
        .clone()
}

fn headless(extra: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().expect("tempdir");
    let mut command = Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            // No request may leave the machine: every host name fails to resolve.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--window-size=1400,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url);
    command.output().expect("chromium runs")
}

fn dom(view: &str) -> String {
    let url = format!(
        "file://{}#{view}",
        demo_report().join("report.html").display()
    );
    let output = headless(&["--dump-dom"], &url);
    assert!(output.status.success(), "{}", stderr(&output));
    let dom = stdout(&output);
    assert!(
        dom.contains(r#"data-ready="true""#),
        "the script ran: {dom:.2000}"
    );
    dom
}

/// The `data-index` of the row of the principals table that names `name`.
fn row_index(dom: &str, name: &str) -> usize {
    let table = dom
        .find(r#"id="principal-rows""#)
        .expect("the principals table");
    let dom = &dom[table..];
    let link = format!(">{name}</a>");
    let at = dom.find(&link).unwrap_or_else(|| panic!("{name} listed"));
    let row = dom[..at].rfind("data-index=\"").expect("a row") + "data-index=\"".len();
    dom[row..]
        .split('"')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn screenshot_folder() -> PathBuf {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&folder).expect("folder");
    folder
}

#[test]
fn chromium_shows_bob_idle_and_alices_diff_and_chart() {
    let listed = dom("principals");
    assert!(listed.contains("5 of 5 principals"), "{listed:.3000}");
    let bob = row_index(&listed, "bob");
    let bob_row = &listed[listed.find(&format!("data-index=\"{bob}\"")).expect("row")..];
    let bob_row = &bob_row[..bob_row.find("</tr>").expect("row ends")];
    assert!(bob_row.contains("badge idle"), "{bob_row}");
    let bob_page = dom(&format!("principal/{bob}"));
    assert!(bob_page.contains(r#"id="principal-idle-badge""#));

    let alice = row_index(&listed, "alice");
    let page = dom(&format!("principal/{alice}"));
    assert!(page.contains("arn:aws:iam::111111111111:user/alice"));
    for (action, status) in [
        ("cloudwatch:DescribeAlarms", "used"),
        ("cloudwatch:DescribeAlarmHistory", "used"),
        ("cloudwatch:DescribeAlarmsForMetric", "unused"),
    ] {
        let at = page
            .find(&format!(">{action}</td>"))
            .unwrap_or_else(|| panic!("{action} in alice's diff"));
        let row_start = page[..at].rfind("<tr").expect("row");
        let row = &page[row_start..at];
        assert!(row.contains(&format!("status-{status}")), "{action}: {row}");
    }
    assert!(
        page.contains("311 of 311 actions"),
        "every action of alice's diff is counted"
    );
    // The chart: one bar per day with calls, and their total.
    let chart_start = page.find(r#"id="calls-chart""#).expect("chart");
    let chart =
        &page[chart_start..chart_start + page[chart_start..].find("</svg>").expect("svg ends")];
    assert!(chart.contains(r#"data-days="90""#), "{chart:.300}");
    let counted = sql(
        &demo_store().join("store"),
        "SELECT count(*) FROM cloudtrail WHERE useridentity.arn = 'arn:aws:iam::111111111111:user/alice' \
         AND errorcode IS NULL AND day BETWEEN '2018-01-01' AND '2018-03-31'",
    );
    let total = stdout(&counted)
        .lines()
        .nth(1)
        .expect("a count")
        .to_string();
    assert!(
        chart.contains(&format!(r#"data-total="{total}""#)),
        "{total}: {chart:.300}"
    );
    assert!(chart.matches(r#"class="bar""#).count() >= 5, "{chart:.300}");
    assert!(chart.contains(">calls per day<"), "the axis says its unit");
    assert!(page.contains(r#"id="policy-text""#) && page.contains("alice-audit-exports-demo"));

    assert!(
        page.contains("of 6,144 characters"),
        "the policy's size against its limit"
    );
    assert!(
        page.contains("2018-03-27 17:02:00 UTC"),
        "the last use of cloudwatch:DescribeAlarms"
    );

    // The summary: counts, idle principals, the risky list and its chart.
    let summary = dom("summary");
    for (id, value) in [
        ("summary-accounts", "2"),
        ("summary-users", "3"),
        ("summary-idle-users", "1"),
        ("summary-roles", "2"),
        ("summary-idle-roles", "0"),
    ] {
        assert!(
            summary.contains(&format!(r#"id="{id}">{value}<"#)),
            "{id} = {value}"
        );
    }
    let risky = &summary[summary.find(r#"id="top-risky""#).expect("risky list")..];
    let risky = &risky[..risky.find("</table>").expect("table ends")];
    assert_eq!(risky.matches(">admin</a>").count(), 2, "{risky}");
    assert!(
        !risky.contains(">alice</a>"),
        "alice holds no unused Write action"
    );
    assert!(summary.contains(r#"id="share-chart""#) && summary.contains(">principals<"));

    // Filters and sorting, set from the address as a shared link sets them.
    let idle = dom("principals?idle=1");
    assert!(idle.contains("1 of 5 principals"), "{idle:.2000}");
    let rows = &idle[idle.find(r#"id="principal-rows""#).expect("rows")..];
    assert!(rows.contains(">bob</a>") && !rows.contains(">alice</a>"));
    let by_name = dom("principals?sort=name");
    let rows = &by_name[by_name.find(r#"id="principal-rows""#).expect("rows")..];
    let order: Vec<usize> = ["admin", "alice", "bob", "charlie"]
        .iter()
        .map(|name| rows.find(&format!(">{name}</a>")).expect("listed"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "sorted by name: {order:?}"
    );
    for (filter, count) in [
        ("status=used,not_granted", "4 of 311 actions"),
        ("service=s3", "5 of 311 actions"),
        ("level=Write&status=unused", "0 of 311 actions"),
    ] {
        let filtered = dom(&format!("principal/{alice}?{filter}"));
        assert!(filtered.contains(count), "{filter}: {count}");
    }

    // Coverage: one row of day cells per account, its gaps counted.
    let coverage = dom("coverage");
    for account in ["111111111111", "222222222222"] {
        let at = coverage
            .find(&format!(r#"data-account="{account}""#))
            .unwrap_or_else(|| panic!("{account} in the coverage"));
        let row = &coverage[at..at + coverage[at..].find("</div>").expect("row ends")];
        assert_eq!(row.matches("<rect").count(), 90, "one cell per day");
        assert!(
            !row.contains(r#"data-gaps="0""#),
            "the demo's logs leave gaps"
        );
    }

    let folder = screenshot_folder();
    let report = demo_report().join("report.html");
    for (view, file) in [
        ("summary", "summary.png"),
        (&format!("principal/{alice}"), "alice.png"),
    ] {
        let target = folder.join(file);
        let _ = std::fs::remove_file(&target);
        let output = headless(
            &[&format!("--screenshot={}", target.display())],
            &format!("file://{}#{view}", report.display()),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        let size = std::fs::metadata(&target).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "{} is a real picture ({size} bytes)",
            target.display()
        );
    }
}
