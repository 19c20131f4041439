//! `ctidx query` on the bundled demo, on crafted accounts, and on real data.

use std::path::Path;

use serde_json::json;

use crate::support::*;

fn demo_query(args: &str) -> std::process::Output {
    let config = demo_dir().join("config.yaml");
    let store = demo_store().join("store");
    let mut all = vec![
        "query",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
    ];
    all.extend(args.split(' '));
    run(&all)
}

/// The command and what it printed, for a snapshot.
fn transcript(args: &str) -> String {
    let output = demo_query(args);
    let mut text = format!("$ ctidx query {args}\n{}", stdout(&output));
    if !output.status.success() {
        text.push_str(&format!(
            "[exit {:?}]\n{}",
            output.status.code(),
            stderr(&output)
        ));
    }
    text
}

#[test]
fn documented_examples_line_for_line() {
    let users = demo_query("--account demo --list users --start 2018-01-01");
    assert_eq!(stdout(&users), "  alice\n- bob\n  charlie\n");
    let roles = demo_query("--account demo --list roles --start 2018-01-01");
    assert_eq!(stdout(&roles), "  admin\n");

    let alice = stdout(&demo_query(
        "--account demo --user alice --start 2018-01-01",
    ));
    assert!(
        alice.starts_with("Getting info on alice, user created 2017-09-02T18:02:14Z\n"),
        "{alice}"
    );
    for line in [
        "  cloudwatch:describealarms",
        "  cloudwatch:describealarmhistory",
        "- cloudwatch:getdashboard",
        "- cloudwatch:describealarmsformetric",
        "? cloudwatch:getmetricdata",
        "+ s3:createbucket",
    ] {
        assert!(
            alice.lines().any(|l| l == line),
            "missing {line:?} in\n{alice}"
        );
    }
    // A denied call is not a use.
    assert!(
        !alice
            .lines()
            .any(|l| l.starts_with("  iam:listusers") || l.starts_with("+ iam:listusers")),
        "{alice}"
    );

    let admin = demo_query("--account demo --role admin --start 2018-01-01 --show-used");
    assert_eq!(
        stdout(&admin),
        "Getting info for role admin\n  iam:createuser\n  s3:createbucket\n"
    );
    // The same role name in another account is another role.
    let backup_admin = demo_query("--account backup --role admin --start 2018-01-01 --show-used");
    assert_eq!(
        stdout(&backup_admin),
        "Getting info for role admin\n  s3:createbucket\n"
    );
}

#[test]
fn every_flag_combination_on_the_demo() {
    let cases = [
        "--account demo --list users --start 2018-01-01",
        "--account demo --list users --start 2017-12-01",
        "--account 111111111111 --list users --start 2018-01-01 --end 2018-01-31",
        "--account demo --list roles --start 2018-01-01",
        "--account backup --list roles --start 2018-01-01",
        "--account demo --user alice --start 2018-01-01 --show-used",
        "--account demo --user alice --start 2018-01-01 --show-used --ignore-benign",
        "--account demo --user alice --start 2018-01-01 --ignore-benign --ignore-unknown",
        "--account demo --user charlie --start 2018-01-01 --show-used",
        "--account demo --user bob --start 2018-01-01 --show-used",
        "--account demo --user bob --start 2017-12-01 --end 2017-12-31 --show-used",
        "--account demo --role admin --start 2018-01-01 --show-used",
        "--account demo --user alise --start 2018-01-01",
        "--account dmeo --list users",
        "--account demo --user alice --start 2018-02-30",
    ];
    let text: String = cases.iter().map(|c| transcript(c) + "\n").collect();
    insta::assert_snapshot!("demo_flag_combinations", text);
}

/// The access level of every action of the catalogue, lower-cased as diffs print them.
fn access_levels() -> std::collections::HashMap<String, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/iam-actions.tsv");
    let text = std::fs::read_to_string(path).expect("catalogue");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let (prefix, name, level) = (fields.next()?, fields.next()?, fields.next()?);
            Some((format!("{prefix}:{name}").to_lowercase(), level.to_string()))
        })
        .collect()
}

/// A diff's lines after its heading, by marker.
fn diff_lines(args: &str) -> Vec<(String, String)> {
    let output = demo_query(args);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
        .lines()
        .skip(1)
        .map(|line| {
            let (marker, rest) = line.split_at(2);
            let action = rest.split(' ').next().unwrap_or(rest);
            (marker.to_string(), action.to_string())
        })
        .collect()
}

fn count(lines: &[(String, String)], marker: &str) -> usize {
    lines.iter().filter(|(m, _)| m == marker).count()
}

/// The admin role holds every action, so its diffs are thousands of lines: they are checked by counts
/// and by chosen lines, and each filter is checked against the unfiltered diff.
#[test]
fn filters_of_a_large_diff() {
    let window = "--account demo --role admin --start 2018-01-01";
    let all = diff_lines(window);
    let levels = access_levels();
    assert!(
        all.len() > 10_000,
        "admin holds every action: {}",
        all.len()
    );
    let used: Vec<&str> = all
        .iter()
        .filter(|(m, _)| m == "  ")
        .map(|(_, a)| a.as_str())
        .collect();
    assert_eq!(used, ["iam:createuser", "s3:createbucket"]);
    assert!(all.contains(&("? ".into(), "s3:getobject".into())));
    assert!(all.contains(&("- ".into(), "ec2:runinstances".into())));
    assert!(all.contains(&("- ".into(), "ec2:describeinstances".into())));
    assert!(all.iter().all(|(_, action)| levels.contains_key(action)));
    let mut sorted = all.clone();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(sorted, all, "sorted by action");

    let known = diff_lines(&format!("{window} --ignore-unknown"));
    assert_eq!(count(&known, "? "), 0);
    assert_eq!(known.len(), all.len() - count(&all, "? "));

    let benign = |action: &str| {
        levels.get(action).is_some_and(|level| level == "List")
            || action
                .split(':')
                .nth(1)
                .is_some_and(|name| name.starts_with("describe"))
    };
    let quiet = diff_lines(&format!("{window} --ignore-benign"));
    assert!(quiet.iter().all(|(_, action)| !benign(action)));
    assert_eq!(
        quiet.len(),
        all.iter().filter(|(_, action)| !benign(action)).count()
    );
    assert!(quiet.contains(&("- ".into(), "ec2:runinstances".into())));

    let both = diff_lines(&format!("{window} --ignore-benign --ignore-unknown"));
    assert_eq!(both.len(), quiet.iter().filter(|(m, _)| m != "? ").count());

    // Data events turn their actions from unknown into judged: unused here.
    let data = diff_lines(&format!("{window} --data-events s3:*Object"));
    assert!(data.contains(&("- ".into(), "s3:getobject".into())));
    assert!(data.contains(&("- ".into(), "s3:putobject".into())));
    assert_eq!(data.len(), all.len());
    assert!(count(&data, "? ") < count(&all, "? "));
    let changed: Vec<&(String, String)> = data.iter().filter(|line| !all.contains(line)).collect();
    assert!(
        changed
            .iter()
            .all(|(m, a)| m == "- " && a.starts_with("s3:") && a.ends_with("object")),
        "{changed:?}"
    );

    // Without colour on a pipe, and with --no-color, no escape sequence is printed.
    let output = demo_query("--account demo --user alice --start 2018-01-01 --no-color");
    assert!(!stdout(&output).contains('\u{1b}'));
}

#[test]
fn names_are_bound_as_parameters_never_pasted_into_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let tricky = "x' OR '1'='1";
    let calls = json!({"Records": [
        record("333333333333", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", "e-1", tricky),
        record("333333333333", "2024-05-01T10:00:01Z", "iam.amazonaws.com", "CreateUser", "e-2", "mallory"),
    ]});
    write(
        &aws_key(&source, "333333333333", "us-east-1", "2024-05-01", "a"),
        &gzip(calls.to_string().as_bytes()),
    );
    assert!(ingest(&source, &store, &["--quiet"]).status.success());
    let iam = json!({
        "UserDetailList": [
            {"UserName": tricky, "UserId": "AIDA1", "Arn": format!("arn:aws:iam::333333333333:user/{tricky}"), "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": ["s3:ListAllMyBuckets", "iam:CreateUser"], "Resource": "*"}}}], "GroupList": [], "AttachedManagedPolicies": []},
            {"UserName": "mallory", "UserId": "AIDA2", "Arn": "arn:aws:iam::333333333333:user/mallory", "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [], "AttachedManagedPolicies": []},
            {"UserName": "idle", "UserId": "AIDA3", "Arn": "arn:aws:iam::333333333333:user/idle", "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [], "AttachedManagedPolicies": []}
        ],
        "GroupDetailList": [], "RoleDetailList": [], "Policies": []
    });
    write(&dir.path().join("iam.json"), iam.to_string().as_bytes());
    write(
        &dir.path().join("config.yaml"),
        b"accounts:\n  - name: tricky\n    id: '333333333333'\n    iam: iam.json\n",
    );
    let config = dir.path().join("config.yaml");
    let base = [
        "query",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
    ];

    let mut args = base.to_vec();
    args.extend(["--user", tricky]);
    let output = run(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "Getting info on {tricky}, user created 2024-01-01T00:00:00Z\n- iam:createuser\n  s3:listallmybuckets\n"
        )
    );
    let mut args = base.to_vec();
    args.extend(["--list", "users"]);
    assert_eq!(
        stdout(&run(&args)),
        format!("- idle\n  mallory\n  {tricky}\n")
    );
}

#[test]
fn deleted_principals_are_listed_only_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (source, store) = (dir.path().join("logs"), dir.path().join("store"));
    let calls = json!({"Records": [
        record("444444444444", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", "e-1", "ghost"),
        record("444444444444", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", "e-2", "alive"),
        // The same name in another account does not make this account's user active.
        record("555555555555", "2024-05-01T10:00:00Z", "s3.amazonaws.com", "ListBuckets", "e-3", "twin"),
    ]});
    write(&source.join("calls.json"), calls.to_string().as_bytes());
    assert!(ingest(&source, &store, &["--quiet"]).status.success());
    let user = |name: &str| json!({"UserName": name, "UserId": name, "Arn": format!("arn:aws:iam::444444444444:user/{name}"), "Path": "/", "CreateDate": "2024-01-01T00:00:00Z", "UserPolicyList": [], "GroupList": [], "AttachedManagedPolicies": []});
    let iam = json!({"UserDetailList": [user("alive"), user("twin")]});
    write(&dir.path().join("iam.json"), iam.to_string().as_bytes());
    write(
        &dir.path().join("config.yaml"),
        b"accounts:\n  - name: a\n    id: 444444444444\n    iam: iam.json\n",
    );
    let config = dir.path().join("config.yaml");
    let args = [
        "query",
        "--config",
        config.to_str().expect("utf-8"),
        "--store",
        store.to_str().expect("utf-8"),
        "--start",
        "2024-01-01",
        "--end",
        "2024-12-31",
        "--list",
        "users",
    ];
    assert_eq!(stdout(&run(&args)), "  alive\n- twin\n");
    let mut with_deleted = args.to_vec();
    with_deleted.push("--show-deleted");
    assert_eq!(
        stdout(&run(&with_deleted)),
        "  alive\n  ghost (deleted: not in the IAM snapshot)\n- twin\n"
    );
}

#[test]
#[ignore = "needs CTIDX_REALDATA_DIR"]
fn real_logs_with_a_written_iam_snapshot() {
    let root = realdata_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    let output = ingest(&root.join("cloudtrail/invictus-ir"), &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invictus-iam.json");
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "accounts:\n  - name: invictus\n    id: '123837392027'\n    iam: {}\n",
            fixture.display()
        ),
    )
    .expect("config");
    let query = |extra: &[&str]| {
        let mut args = vec![
            "query",
            "--config",
            config.to_str().expect("utf-8"),
            "--store",
            store.to_str().expect("utf-8"),
            "--start",
            "2023-07-01",
            "--end",
            "2023-07-31",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    assert_eq!(
        stdout(&query(&["--list", "users"])),
        "  benjamin\n  bert-jan\n- idle-auditor\n"
    );
    // The password-data role's only calls were refused, so it is idle.
    assert_eq!(
        stdout(&query(&["--list", "roles"])),
        "- stratus-red-team-ec2-get-password-data-role\n  stratus-red-team-ec2-steal-credentials-role\n"
    );
    let bert = query(&["--user", "bert-jan", "--show-used"]);
    assert!(bert.status.success(), "{}", stderr(&bert));
    let used: Vec<String> = stdout(&bert).lines().skip(1).map(str::to_string).collect();
    assert!(used.len() > 20, "{used:?}");
    assert!(
        used.iter().all(|l| l.starts_with("  ")),
        "an administrator has no + lines: {used:?}"
    );
    let benjamin = stdout(&query(&["--user", "benjamin"]));
    assert!(
        benjamin.starts_with("Getting info on benjamin, user created 2023-06-02T10:00:00Z\n"),
        "{benjamin}"
    );
    assert!(
        benjamin.lines().any(|l| l.starts_with("+ ")),
        "benjamin made calls beyond his policy:\n{benjamin}"
    );
    eprintln!("real data: bert-jan used {} actions", used.len());
}

#[test]
#[ignore = "needs CTIDX_REALDATA_DIR"]
fn every_principal_of_the_real_iam_snapshot_can_be_queried() {
    let root = realdata_dir();
    let snapshot = root.join("iam/cloudsplaining/example.json");
    let text = std::fs::read_to_string(&snapshot).expect("example.json");
    let value: serde_json::Value = serde_json::from_str(&text).expect("json");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("store");
    generate(&dir.path().join("logs"), 1, 5);
    assert!(
        ingest(&dir.path().join("logs"), &store, &["--quiet"])
            .status
            .success()
    );
    let config = dir.path().join("config.yaml");
    // The snapshot holds principals of two accounts; each is queried in its own.
    let accounts = ["200611803367", "012345678901"];
    let config_text: String = accounts
        .iter()
        .map(|id| {
            format!(
                "  - name: a{id}\n    id: '{id}'\n    iam: {}\n",
                snapshot.display()
            )
        })
        .collect();
    std::fs::write(&config, format!("accounts:\n{config_text}")).expect("config");
    let mut checked = 0;
    for (list, flag, key) in [
        ("UserDetailList", "--user", "UserName"),
        ("RoleDetailList", "--role", "RoleName"),
    ] {
        for principal in value[list].as_array().expect("list") {
            let name = principal[key].as_str().expect("name");
            let account = principal["Arn"]
                .as_str()
                .and_then(|a| a.split(':').nth(4))
                .expect("account");
            let output = run(&[
                "query",
                "--quiet",
                "--config",
                config.to_str().expect("utf-8"),
                "--store",
                store.to_str().expect("utf-8"),
                "--account",
                account,
                flag,
                name,
            ]);
            assert!(
                output.status.success(),
                "{flag} {name}: {}",
                stderr(&output)
            );
            assert!(
                stdout(&output).starts_with("Getting info "),
                "{flag} {name}: {}",
                stdout(&output)
            );
            checked += 1;
        }
    }
    eprintln!("real IAM snapshot: {checked} principals queried");
}
