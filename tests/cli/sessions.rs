//! Following role sessions: chains, SAML, Identity Center, cross-account, and bad session data.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::*;

const A: &str = "111111111111";
const B: &str = "222222222222";

fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

fn user_identity(name: &str, id: &str) -> Value {
    json!({"type": "IAMUser", "principalId": id, "arn": format!("arn:aws:iam::{A}:user/{name}"), "accountId": A, "accessKeyId": format!("AKIA{id}"), "userName": name})
}

fn session_identity(account: &str, role: &str, session: &str, key: &str) -> Value {
    json!({
        "type": "AssumedRole",
        "principalId": format!("AROA{role}:{session}"),
        "arn": format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        "accountId": account,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {"type": "Role", "principalId": format!("AROA{role}"), "arn": role_arn(account, role), "accountId": account, "userName": role},
            "attributes": {"creationDate": "2024-05-01T00:00:00Z", "mfaAuthenticated": "false"}
        }
    })
}

fn console_identity(account: &str, role: &str, session: &str, key: &str, created: &str) -> Value {
    let mut identity = session_identity(account, role, session, key);
    identity["sessionContext"]["attributes"]["creationDate"] = json!(created);
    identity
}

/// A console role switch as the destination account records it: no access key returned, the
/// switched-from principal in additionalEventData.
fn switch_role(
    account: &str,
    role: &str,
    session: &str,
    from: &str,
    time: &str,
    id: &str,
) -> Value {
    let mut record = event(
        account,
        console_identity(account, role, session, "", time),
        time,
        "signin.amazonaws.com",
        "SwitchRole",
        id,
    );
    record["eventType"] = json!("AwsConsoleSignIn");
    record["responseElements"] = json!({"SwitchRole": "Success"});
    record["additionalEventData"] =
        json!({"SwitchFrom": from, "RedirectTo": "https://console.aws.amazon.com/"});
    record
}

fn event(account: &str, identity: Value, time: &str, source: &str, name: &str, id: &str) -> Value {
    json!({
        "eventVersion": "1.08", "userIdentity": identity, "eventTime": time, "eventSource": source,
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.1", "userAgent": "test",
        "requestParameters": null, "responseElements": null, "requestID": id, "eventID": id,
        "eventType": "AwsApiCall", "recipientAccountId": account
    })
}

fn assume(
    account: &str,
    identity: Value,
    time: &str,
    name: &str,
    role: &str,
    key: Option<&str>,
    id: &str,
) -> Value {
    let mut record = event(account, identity, time, "sts.amazonaws.com", name, id);
    record["requestParameters"] = json!({"roleArn": role, "roleSessionName": "s"});
    if let Some(key) = key {
        record["responseElements"] = json!({"credentials": {"accessKeyId": key, "sessionToken": "t", "expiration": "Jan 1, 2030"}});
    }
    record
}

fn admin_role(account: &str, name: &str) -> Value {
    json!({"RoleName": name, "RoleId": format!("AROA{name}"), "Arn": role_arn(account, name), "Path": "/", "CreateDate": "2024-01-01T00:00:00Z",
           "RolePolicyList": [{"PolicyName": "admin", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}}],
           "AttachedManagedPolicies": [], "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}})
}

fn user(name: &str, id: &str) -> Value {
    json!({"UserName": name, "UserId": id, "Arn": format!("arn:aws:iam::{A}:user/{name}"), "Path": "/", "CreateDate": "2024-01-01T00:00:00Z",
           "UserPolicyList": [{"PolicyName": "assume", "PolicyDocument": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}}],
           "GroupList": [], "AttachedManagedPolicies": []})
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    store: std::path::PathBuf,
}

impl Fixture {
    fn query(&self, args: &str) -> String {
        self.query_verbose(args).0
    }

    /// Runs `ctidx -v query` with `args` over May 2024; gives its stdout and stderr.
    fn query_verbose(&self, args: &str) -> (String, String) {
        let mut all = vec![
            "-v",
            "query",
            "--config",
            self.config.to_str().expect("utf-8"),
            "--store",
            self.store.to_str().expect("utf-8"),
            "--start",
            "2024-05-01",
            "--end",
            "2024-05-31",
        ];
        all.extend(args.split(' '));
        let output = run(&all);
        assert!(output.status.success(), "{args}: {}", stderr(&output));
        (stdout(&output), stderr(&output))
    }
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let alice = user_identity("alice", "AIDAALICE");
    let bob = user_identity("bob", "AIDABOB");
    let t = |day: u32, second: u32| format!("2024-05-{day:02}T10:00:{second:02}Z");
    let a_records = vec![
        // Two hops: alice → hop1 (K1) → hop2 (K2), which creates a bucket.
        assume(
            A,
            alice.clone(),
            &t(1, 0),
            "AssumeRole",
            &role_arn(A, "hop1"),
            Some("ASIAK1"),
            "a1",
        ),
        assume(
            A,
            session_identity(A, "hop1", "alice", "ASIAK1"),
            &t(1, 1),
            "AssumeRole",
            &role_arn(A, "hop2"),
            Some("ASIAK2"),
            "a2",
        ),
        event(
            A,
            session_identity(A, "hop2", "alice", "ASIAK2"),
            &t(1, 2),
            "s3.amazonaws.com",
            "CreateBucket",
            "a3",
        ),
        // bob: a refused assumption, and one whose response has no credentials.
        {
            let mut denied = assume(
                A,
                bob.clone(),
                &t(1, 3),
                "AssumeRole",
                &role_arn(A, "hop2"),
                None,
                "b1",
            );
            denied["errorCode"] = json!("AccessDenied");
            denied
        },
        assume(
            A,
            bob.clone(),
            &t(1, 4),
            "AssumeRole",
            &role_arn(A, "hop2"),
            None,
            "b2",
        ),
        // A session key used on two days.
        assume(
            A,
            alice.clone(),
            &t(2, 0),
            "AssumeRole",
            &role_arn(A, "shared"),
            Some("ASIAK3"),
            "c1",
        ),
        event(
            A,
            session_identity(A, "shared", "alice", "ASIAK3"),
            &t(2, 1),
            "ec2.amazonaws.com",
            "RunInstances",
            "c2",
        ),
        event(
            A,
            session_identity(A, "shared", "alice", "ASIAK3"),
            &t(3, 1),
            "iam.amazonaws.com",
            "ListUsers",
            "c3",
        ),
        // A session that was never used, and an assumption whose key appears nowhere else.
        assume(
            A,
            alice.clone(),
            &t(4, 0),
            "AssumeRole",
            &role_arn(A, "shared"),
            Some("ASIAUNUSED"),
            "c4",
        ),
        // SAML into the shared role.
        assume(
            A,
            json!({"type": "SAMLUser", "principalId": "corp:carol@example.com", "userName": "carol@example.com", "identityProvider": "corp"}),
            &t(5, 0),
            "AssumeRoleWithSAML",
            &role_arn(A, "shared"),
            Some("ASIAK4"),
            "d1",
        ),
        event(
            A,
            session_identity(A, "shared", "carol@example.com", "ASIAK4"),
            &t(5, 1),
            "ec2.amazonaws.com",
            "DescribeInstances",
            "d2",
        ),
        // An Identity Center-style session with no assumption in the logs: the session name is the person.
        event(
            A,
            session_identity(A, "shared", "dave", "ASIAK5"),
            &t(6, 1),
            "lambda.amazonaws.com",
            "ListFunctions20150331",
            "e1",
        ),
        // bob into the other account's role: the caller's copy of a call recorded in both accounts.
        {
            let mut copy = assume(
                A,
                bob.clone(),
                &t(9, 0),
                "AssumeRole",
                &role_arn(B, "remote"),
                Some("ASIAK8"),
                "h1",
            );
            copy["sharedEventID"] = json!("shared-h");
            copy
        },
        // Web identity into the shared role: the person is the federated user name.
        assume(
            A,
            json!({"type": "WebIdentityUser", "principalId": "accounts.example.com:frank", "userName": "frank", "identityProvider": "accounts.example.com"}),
            &t(14, 0),
            "AssumeRoleWithWebIdentity",
            &role_arn(A, "shared"),
            Some("ASIAK10"),
            "w1",
        ),
        event(
            A,
            session_identity(A, "shared", "web-session", "ASIAK10"),
            &t(14, 1),
            "sqs.amazonaws.com",
            "ListQueues",
            "w2",
        ),
        // An Identity Center session acting for a user: the user it acts for, not the session name.
        {
            let mut identity = session_identity(A, "shared", "sso-session", "ASIAK11");
            identity["onBehalfOf"] = json!({"userId": "u-grace", "identityStoreArn": "arn:aws:identitystore::111111111111:identitystore/d-1"});
            event(
                A,
                identity,
                &t(15, 1),
                "sns.amazonaws.com",
                "ListTopics",
                "x1",
            )
        },
        // A session that carries a source identity.
        {
            let mut identity = session_identity(A, "shared", "batch", "ASIAK6");
            identity["sessionContext"]["sourceIdentity"] = json!("erin");
            event(A, identity, &t(7, 1), "kms.amazonaws.com", "ListKeys", "f1")
        },
        // Console role switches: bob from his user, carol from her SAML session of the shared role.
        // Console sessions rotate their access keys; the session ARN and creation time stay.
        switch_role(
            A,
            "console",
            "bob",
            &format!("arn:aws:iam::{A}:user/bob"),
            &t(10, 0),
            "s1",
        ),
        event(
            A,
            console_identity(A, "console", "bob", "ASIACONSOLE1", &t(10, 0)),
            &t(10, 1),
            "iam.amazonaws.com",
            "GetUser",
            "s2",
        ),
        event(
            A,
            console_identity(A, "console", "bob", "ASIACONSOLE2", &t(10, 0)),
            &t(11, 1),
            "ec2.amazonaws.com",
            "DescribeInstances",
            "s3",
        ),
        switch_role(
            A,
            "console",
            "carol@example.com",
            &format!("arn:aws:sts::{A}:assumed-role/shared/carol@example.com"),
            &t(12, 0),
            "s4",
        ),
        event(
            A,
            console_identity(A, "console", "carol@example.com", "ASIACONSOLE3", &t(12, 0)),
            &t(12, 1),
            "sns.amazonaws.com",
            "ListTopics",
            "s5",
        ),
        // alice, by the API, into the same role with bob's name as her session name: a session of
        // the same ARN but another creation time, which is not bob's.
        assume(
            A,
            alice.clone(),
            &t(13, 0),
            "AssumeRole",
            &role_arn(A, "console"),
            Some("ASIAK9"),
            "s6",
        ),
        event(
            A,
            console_identity(A, "console", "bob", "ASIAK9", &t(13, 0)),
            &t(13, 1),
            "s3.amazonaws.com",
            "DeleteBucket",
            "s7",
        ),
    ];
    // Cross-account: only the destination's copy of alice's assumption (as AWS records it there).
    let b_records = vec![
        assume(
            B,
            json!({"type": "AWSAccount", "principalId": "AIDAALICE", "accountId": A}),
            &t(8, 0),
            "AssumeRole",
            &role_arn(B, "remote"),
            Some("ASIAK7"),
            "g1",
        ),
        event(
            B,
            session_identity(B, "remote", "alice", "ASIAK7"),
            &t(8, 1),
            "s3.amazonaws.com",
            "ListBuckets",
            "g2",
        ),
        // The destination's copy of bob's call, linked to the caller's copy by sharedEventID.
        {
            let mut copy = assume(
                B,
                json!({"type": "AWSAccount", "principalId": "AIDABOB", "accountId": A}),
                &t(9, 0),
                "AssumeRole",
                &role_arn(B, "remote"),
                Some("ASIAK8"),
                "h2",
            );
            copy["sharedEventID"] = json!("shared-h");
            copy
        },
        event(
            B,
            session_identity(B, "remote", "bob", "ASIAK8"),
            &t(9, 1),
            "s3.amazonaws.com",
            "GetBucketAcl",
            "h3",
        ),
        // Another account's same-named key must not leak: a call by a different role.
        event(
            B,
            session_identity(B, "other", "alice", "ASIAK7X"),
            &t(8, 2),
            "s3.amazonaws.com",
            "DeleteBucket",
            "g3",
        ),
    ];
    let logs = dir.path().join("logs");
    write(
        &aws_key(&logs, A, "us-east-1", "2024-05-01", "a"),
        &gzip(json!({"Records": a_records}).to_string().as_bytes()),
    );
    write(
        &aws_key(&logs, B, "us-east-1", "2024-05-08", "b"),
        &gzip(json!({"Records": b_records}).to_string().as_bytes()),
    );
    let store = dir.path().join("store");
    let output = ingest(&logs, &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let iam_a = json!({"UserDetailList": [user("alice", "AIDAALICE"), user("bob", "AIDABOB")], "RoleDetailList": [admin_role(A, "hop1"), admin_role(A, "hop2"), admin_role(A, "shared"), admin_role(A, "console")]});
    let iam_b = json!({"RoleDetailList": [admin_role(B, "remote"), admin_role(B, "other")]});
    write(&dir.path().join("a.json"), iam_a.to_string().as_bytes());
    write(&dir.path().join("b.json"), iam_b.to_string().as_bytes());
    let config = dir.path().join("config.yaml");
    write(&config, format!("accounts:\n  - name: a\n    id: '{A}'\n    iam: a.json\n  - name: b\n    id: '{B}'\n    iam: b.json\n").as_bytes());
    Fixture {
        _dir: dir,
        config,
        store,
    }
}

fn body(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| !l.starts_with("Getting info"))
        .collect()
}

#[test]
fn sessions_are_attributed_exactly() {
    let f = fixture();
    // Two hops.
    assert_eq!(
        body(&f.query("--account a --user alice --destrole hop2 --show-used")),
        ["  s3:createbucket"]
    );
    assert_eq!(
        body(&f.query("--account a --user alice --destrole hop1 --show-used")),
        ["  sts:assumerole"]
    );
    assert_eq!(
        body(&f.query("--account a --role hop1 --destrole hop2 --show-used")),
        ["  s3:createbucket"]
    );
    // The depth limit stops the chain.
    assert!(
        body(&f.query("--account a --user alice --destrole hop2 --show-used --max-depth 1"))
            .is_empty()
    );
    // A key used on two days; an unused session adds nothing.
    assert_eq!(
        body(&f.query("--account a --user alice --destrole shared --show-used")),
        ["  ec2:runinstances", "  iam:listusers"]
    );
    // A refused assumption and one without credentials lead nowhere, without error.
    assert!(body(&f.query("--account a --user bob --destrole hop2 --show-used")).is_empty());
    // Cross-account, from the destination's copy of the call alone.
    assert_eq!(
        body(&f.query("--account a --user alice --destaccount b --destrole remote --show-used")),
        ["  s3:listallmybuckets"]
    );
    let header = f.query("--account a --user alice --destaccount b --destrole remote --show-used");
    assert!(header.starts_with("Getting info on alice, user created 2024-01-01T00:00:00Z\nGetting info for AssumeRole into remote\n"), "{header}");
}

#[test]
fn console_role_switches_are_followed_by_session_name_and_creation_time() {
    let f = fixture();
    assert_eq!(
        body(&f.query("--account a --user bob --destrole console --show-used")),
        ["  ec2:describeinstances", "  iam:getuser"]
    );
    assert_eq!(
        body(&f.query("--account a --user alice --destrole console --show-used")),
        ["  s3:deletebucket"]
    );
    // A switch made from a role session belongs to that role.
    assert_eq!(
        body(&f.query("--account a --role shared --destrole console --show-used")),
        ["  sns:listtopics"]
    );
    assert_eq!(
        f.query("--account a --role console --by-session"),
        "Getting info for role console, by person\n\
         arn:aws:iam::111111111111:user/alice\n    s3:deletebucket\n\
         arn:aws:iam::111111111111:user/bob\n    ec2:describeinstances\n    iam:getuser\n\
         arn:aws:sts::111111111111:assumed-role/shared/carol@example.com\n    sns:listtopics\n"
    );
}

#[test]
fn by_session_names_each_person_of_a_shared_role() {
    let f = fixture();
    let text = f.query("--account a --role shared --by-session");
    assert_eq!(
        text,
        "Getting info for role shared, by person\n\
         arn:aws:iam::111111111111:user/alice\n    ec2:runinstances\n    iam:listusers\n\
         carol@example.com\n    ec2:describeinstances\n\
         dave\n    lambda:listfunctions\n\
         erin\n    kms:listkeys\n\
         frank\n    sqs:listqueues\n\
         u-grace\n    sns:listtopics\n"
    );
}

#[test]
fn cross_account_copies_are_linked_by_shared_event_id() {
    let f = fixture();
    assert_eq!(
        body(&f.query("--account a --user bob --destaccount b --destrole remote --show-used")),
        ["  s3:getbucketacl"]
    );
    // In the destination account, bob's session is named by his ARN, taken from the caller's copy;
    // alice's, whose caller copy is missing, by the unique ID the destination recorded.
    assert_eq!(
        f.query("--account b --role remote --by-session"),
        "Getting info for role remote, by person\nAIDAALICE\n    s3:listallmybuckets\narn:aws:iam::111111111111:user/bob\n    s3:getbucketacl\n"
    );
}

/// The session openings written with the data hold every row `sql/session_events.sql` keeps: each
/// session question gives the same answer from them as from the events (openings removed, as in a
/// store written before they existed).
#[test]
fn session_answers_are_the_same_from_the_session_openings_and_from_the_events() {
    let f = fixture();
    let questions = [
        "--account a --user alice --destrole hop2 --show-used",
        "--account a --user alice --destrole shared --show-used",
        "--account a --user bob --destrole console --show-used",
        "--account a --user alice --destaccount b --destrole remote --show-used",
        "--account a --role shared --by-session",
        "--account b --role remote --by-session",
        "--account a --role console --by-session",
    ];
    let answers = |read: &str| -> Vec<String> {
        questions
            .iter()
            .map(|question| {
                let (out, err) = f.query_verbose(question);
                assert!(err.contains(read), "{question}: {err}");
                out
            })
            .collect()
    };
    let from_openings = answers("reading the store's session openings");
    assert!(
        from_openings
            .iter()
            .all(|answer| !body(answer).is_empty() || answer.contains("by person"))
    );
    std::fs::remove_dir_all(f.store.join("_ctidx").join("sessions")).expect("removes openings");
    assert_eq!(answers("reading the events for sessions"), from_openings);
}

#[test]
fn the_demo_reproduces_the_documented_session_examples() {
    let dir = tempfile::tempdir().expect("tempdir");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/demo");
    let store = dir.path().join("store");
    assert!(
        ingest(&demo.join("AWSLogs"), &store, &["--quiet"])
            .status
            .success()
    );
    let query = |args: &str| {
        let config = demo.join("config.yaml");
        let mut all = vec![
            "query",
            "--config",
            config.to_str().expect("utf-8"),
            "--store",
            store.to_str().expect("utf-8"),
            "--start",
            "2018-01-01",
        ];
        all.extend(args.split(' '));
        stdout(&run(&all))
    };
    assert_eq!(
        query("--account demo --user alice --destrole admin --show-used"),
        "Getting info on alice, user created 2017-09-02T18:02:14Z\nGetting info for AssumeRole into admin\n  iam:createuser\n  s3:createbucket\n"
    );
    assert_eq!(
        query("--account demo --user charlie --destrole admin --show-used"),
        "Getting info on charlie, user created 2017-10-01T01:01:01Z\nGetting info for AssumeRole into admin\n  s3:createbucket\n"
    );
    assert_eq!(
        query("--account demo --user charlie --destaccount backup --destrole admin --show-used"),
        "Getting info on charlie, user created 2017-10-01T01:01:01Z\nGetting info for AssumeRole into admin\n  s3:createbucket\n"
    );
}

/// A chain from account A through C into B: alice assumes C's `hub` role (both copies) and, from
/// that session, B's `target` role (both copies); bob switches in the console into C's `console`
/// role (recorded in C only) and, from that session, assumes `target` too. Account D holds sessions
/// of its own that lead nowhere near B.
#[test]
fn chains_through_a_third_account_are_followed_reading_only_the_accounts_they_pass() {
    const C: &str = "333333333333";
    const D: &str = "444444444444";
    let dir = tempfile::tempdir().expect("tempdir");
    let t = |second: u32| format!("2024-05-10T10:00:{second:02}Z");
    let shared = |mut record: Value, id: &str| {
        record["sharedEventID"] = json!(id);
        record
    };
    let caller_copy = |account: &str, principal_id: &str| json!({"type": "AWSAccount", "principalId": principal_id, "accountId": account});
    let alice = user_identity("alice", "AIDAALICE");
    let hub = session_identity(C, "hub", "alice", "ASIAHUB");
    let console = console_identity(C, "console", "bob", "ASIACON", "2024-05-10T09:59:00Z");
    let a_records = vec![shared(
        assume(
            A,
            alice,
            &t(0),
            "AssumeRole",
            &role_arn(C, "hub"),
            Some("ASIAHUB"),
            "a1",
        ),
        "s-1",
    )];
    let c_records = vec![
        shared(
            assume(
                C,
                caller_copy(A, "AIDAALICE"),
                &t(0),
                "AssumeRole",
                &role_arn(C, "hub"),
                Some("ASIAHUB"),
                "c1",
            ),
            "s-1",
        ),
        shared(
            assume(
                C,
                hub,
                &t(1),
                "AssumeRole",
                &role_arn(B, "target"),
                Some("ASIATA"),
                "c2",
            ),
            "s-2",
        ),
        switch_role(
            C,
            "console",
            "bob",
            &format!("arn:aws:iam::{A}:user/bob"),
            "2024-05-10T09:59:00Z",
            "c3",
        ),
        shared(
            assume(
                C,
                console,
                &t(2),
                "AssumeRole",
                &role_arn(B, "target"),
                Some("ASIATB"),
                "c4",
            ),
            "s-3",
        ),
        // An API session that bears the same ARN as bob's console session, created at another time:
        // not bob's.
        shared(
            assume(
                C,
                session_identity(C, "console", "bob", "ASIANOTBOB"),
                &t(6),
                "AssumeRole",
                &role_arn(B, "target2"),
                Some("ASIATC"),
                "c5",
            ),
            "s-4",
        ),
    ];
    let b_records = vec![
        shared(
            assume(
                B,
                caller_copy(C, "AROAhub:alice"),
                &t(1),
                "AssumeRole",
                &role_arn(B, "target"),
                Some("ASIATA"),
                "b1",
            ),
            "s-2",
        ),
        shared(
            assume(
                B,
                caller_copy(C, "AROAconsole:bob"),
                &t(2),
                "AssumeRole",
                &role_arn(B, "target"),
                Some("ASIATB"),
                "b2",
            ),
            "s-3",
        ),
        event(
            B,
            session_identity(B, "target", "alice", "ASIATA"),
            &t(3),
            "s3.amazonaws.com",
            "ListBuckets",
            "b3",
        ),
        event(
            B,
            session_identity(B, "target", "bob", "ASIATB"),
            &t(4),
            "ec2.amazonaws.com",
            "DescribeInstances",
            "b4",
        ),
        shared(
            assume(
                B,
                caller_copy(C, "AROAconsole:bob"),
                &t(6),
                "AssumeRole",
                &role_arn(B, "target2"),
                Some("ASIATC"),
                "b5",
            ),
            "s-4",
        ),
        event(
            B,
            session_identity(B, "target2", "x", "ASIATC"),
            &t(7),
            "sqs.amazonaws.com",
            "ListQueues",
            "b6",
        ),
    ];
    let d_user = json!({"type": "IAMUser", "principalId": "AIDADAN", "arn": format!("arn:aws:iam::{D}:user/dan"), "accountId": D, "accessKeyId": "AKIADAN", "userName": "dan"});
    let d_records = vec![assume(
        D,
        d_user,
        &t(5),
        "AssumeRole",
        &role_arn(D, "local"),
        Some("ASIAD"),
        "d1",
    )];
    let logs = dir.path().join("logs");
    for (account, records) in [
        (A, a_records),
        (B, b_records),
        (C, c_records),
        (D, d_records),
    ] {
        write(
            &aws_key(&logs, account, "us-east-1", "2024-05-10", account),
            &gzip(json!({"Records": records}).to_string().as_bytes()),
        );
    }
    let store = dir.path().join("store");
    let output = ingest(&logs, &store, &["--quiet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let snapshots = [
        (
            A,
            json!({"UserDetailList": [user("alice", "AIDAALICE"), user("bob", "AIDABOB")]}),
        ),
        (
            B,
            json!({"RoleDetailList": [admin_role(B, "target"), admin_role(B, "target2")]}),
        ),
        (
            C,
            json!({"RoleDetailList": [admin_role(C, "hub"), admin_role(C, "console")]}),
        ),
    ];
    let mut config = String::from("accounts:\n");
    for (account, snapshot) in snapshots {
        write(
            &dir.path().join(format!("{account}.json")),
            snapshot.to_string().as_bytes(),
        );
        config.push_str(&format!(
            "  - name: n{account}\n    id: '{account}'\n    iam: {account}.json\n"
        ));
    }
    let config_path = dir.path().join("config.yaml");
    write(&config_path, config.as_bytes());
    let fixture = Fixture {
        _dir: dir,
        config: config_path,
        store,
    };
    let query = |args: &str| fixture.query_verbose(args);
    let read_from_b = format!("role sessions followed through the logs of {B}, {C}, {A}\n");

    let (text, log) = query(&format!(
        "--account {A} --user alice --destaccount {B} --destrole target --show-used"
    ));
    assert_eq!(body(&text), ["  s3:listallmybuckets"]);
    assert!(log.contains(&read_from_b), "{log}");
    let (text, _) = query(&format!(
        "--account {A} --user bob --destaccount {B} --destrole target --show-used"
    ));
    assert_eq!(body(&text), ["  ec2:describeinstances"]);
    let (text, log) = query(&format!("--account {B} --role target --by-session"));
    assert_eq!(
        text,
        format!(
            // bob's chain starts in the session he switched into in the console.
            "Getting info for role target, by person\narn:aws:iam::{A}:user/alice\n    s3:listallmybuckets\narn:aws:iam::{A}:user/bob\n    ec2:describeinstances\n"
        )
    );
    assert!(log.contains(&read_from_b), "{log}");
    let (text, _) = query(&format!("--account {B} --role target2 --by-session"));
    assert_eq!(
        text,
        format!(
            "Getting info for role target2, by person\narn:aws:sts::{C}:assumed-role/console/bob\n    sqs:listqueues\n"
        )
    );
    // Into C's roles, chains pass only through C and A; D's sessions are never read.
    let (_, log) = query(&format!("--account {C} --role hub --by-session"));
    assert!(
        log.contains(&format!(
            "role sessions followed through the logs of {C}, {A}\n"
        )),
        "{log}"
    );
}
