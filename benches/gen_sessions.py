#!/usr/bin/env python3
"""Session-heavy CloudTrail data for benchmarking `ctidx query --destrole` (stdlib only).

Writes, under --out:
  AWSLogs/<account>/CloudTrail/us-east-1/YYYY/MM/DD/*.json.gz  one file per hour with events
  iam/bench.json     an `aws iam get-account-authorization-details` snapshot of the users and roles
  config.yaml        CloudTracker's config for the account (name "bench")
  truth.json         for each (user, destination role): the IAM actions that user performed in that
                     role's sessions, through any chain, to check `--show-used` output against

Every session starts with a user: an `sts:AssumeRole` returning a fresh key, or (a share of them) a
console `SwitchRole`, which returns none. A share of AssumeRole sessions assume a second role in turn
(a two-hop chain). Each session makes a few calls; users also make calls of their own.

  python3 benches/gen_sessions.py --out /tmp/sessions --sessions 100000
"""

import argparse
import datetime as dt
import gzip
import json
import os
import random
from collections import defaultdict

ACCOUNT = "111111111111"
REGION = "us-east-1"
# Calls whose IAM action is the event name under the service's prefix, so truth needs no mapping.
CALLS = [
    ("s3.amazonaws.com", "CreateBucket"), ("s3.amazonaws.com", "DeleteBucket"),
    ("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "RunInstances"),
    ("ec2.amazonaws.com", "StopInstances"), ("iam.amazonaws.com", "ListUsers"),
    ("iam.amazonaws.com", "GetUser"), ("iam.amazonaws.com", "CreateUser"),
    ("sns.amazonaws.com", "ListTopics"), ("sns.amazonaws.com", "Publish"),
    ("sqs.amazonaws.com", "ListQueues"), ("dynamodb.amazonaws.com", "ListTables"),
    ("dynamodb.amazonaws.com", "DescribeTable"), ("kms.amazonaws.com", "ListKeys"),
    ("kms.amazonaws.com", "Decrypt"), ("logs.amazonaws.com", "DescribeLogGroups"),
]


def action(call):
    return call[0].split(".")[0] + ":" + call[1].lower()


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--roles", type=int, default=20)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--start-date", default="2024-03-01")
    ap.add_argument("--chain-share", type=float, default=0.1)
    ap.add_argument("--switch-share", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    start = dt.datetime.fromisoformat(args.start_date).replace(tzinfo=dt.timezone.utc)
    users = [f"user{i:03d}" for i in range(args.users)]
    roles = [f"role{i:02d}" for i in range(args.roles)]
    user_arn = lambda u: f"arn:aws:iam::{ACCOUNT}:user/{u}"
    role_arn = lambda r: f"arn:aws:iam::{ACCOUNT}:role/{r}"
    events = []  # (time, record)
    truth = defaultdict(set)
    counter = [0]

    def next_id(prefix):
        counter[0] += 1
        return f"{prefix}{counter[0]:016d}"

    def record(time, identity, source, name, request=None, response=None, extra=None, event_type="AwsApiCall"):
        eid = next_id("e")
        r = {
            "eventVersion": "1.08", "userIdentity": identity, "eventTime": iso(time),
            "eventSource": source, "eventName": name, "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.7", "userAgent": "bench", "requestParameters": request,
            "responseElements": response, "requestID": eid, "eventID": eid,
            "readOnly": False, "eventType": event_type, "managementEvent": True,
            "recipientAccountId": ACCOUNT, "eventCategory": "Management",
        }
        if extra:
            r["additionalEventData"] = extra
        events.append((time, r))

    def user_identity(u):
        return {"type": "IAMUser", "principalId": "AIDA" + u.upper(), "arn": user_arn(u),
                "accountId": ACCOUNT, "accessKeyId": "AKIA" + u.upper(), "userName": u}

    def session_identity(role, name, key, created):
        return {"type": "AssumedRole", "principalId": f"AROA{role.upper()}:{name}",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{name}", "accountId": ACCOUNT,
                "accessKeyId": key,
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROA" + role.upper(),
                                                      "arn": role_arn(role), "accountId": ACCOUNT, "userName": role},
                                   "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"}}}

    def assume(time, identity, role, session_name):
        key = next_id("ASIA")
        record(time, identity, "sts.amazonaws.com", "AssumeRole",
               request={"roleArn": role_arn(role), "roleSessionName": session_name},
               response={"credentials": {"accessKeyId": key, "sessionToken": "t", "expiration": iso(time + dt.timedelta(hours=1))},
                         "assumedRoleUser": {"assumedRoleId": f"AROA{role.upper()}:{session_name}",
                                             "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session_name}"}})
        return key

    def calls(time, identity, owner_user, role, count):
        # each user does a few things of its own in each role, so attribution errors show in truth
        repertoire = random.Random(f"{args.seed}/{owner_user}/{role}").sample(CALLS, 3)
        for i in range(count):
            call = rng.choice(repertoire)
            record(time + dt.timedelta(seconds=5 * (i + 1)), identity, *call)
            truth[(owner_user, role)].add(action(call))

    span = args.days * 86400
    for _ in range(args.sessions):
        u = rng.choice(users)
        r = rng.choice(roles)
        t = start + dt.timedelta(seconds=rng.randrange(span - 3600))
        if rng.random() < args.switch_share:
            sid = session_identity(r, u, "", t)
            record(t, sid, "signin.amazonaws.com", "SwitchRole", response={"SwitchRole": "Success"},
                   extra={"SwitchFrom": user_arn(u), "RedirectTo": "https://console.aws.amazon.com/"},
                   event_type="AwsConsoleSignIn")
            calls(t, session_identity(r, u, next_id("ASIA"), t), u, r, rng.randint(1, 8))
            continue
        name = f"{u}-{counter[0]}"
        key = assume(t, user_identity(u), r, name)
        sid = session_identity(r, name, key, t)
        calls(t, sid, u, r, rng.randint(1, 8))
        if rng.random() < args.chain_share:
            r2 = rng.choice(roles)
            t2 = t + dt.timedelta(seconds=60)
            key2 = assume(t2, sid, r2, name)
            truth[(u, r)].add("sts:assumerole")
            calls(t2, session_identity(r2, name, key2, t2), u, r2, rng.randint(1, 4))
        # the user's own calls
        calls(t + dt.timedelta(seconds=120), user_identity(u), u, None, rng.randint(0, 2))

    by_hour = defaultdict(list)
    for time, r in events:
        by_hour[time.strftime("%Y/%m/%d/%Y%m%dT%H00Z")].append((time, r))
    base = os.path.join(args.out, "AWSLogs", ACCOUNT, "CloudTrail", REGION)
    for hour, items in by_hour.items():
        day, stamp = hour.rsplit("/", 1)
        folder = os.path.join(base, day)
        os.makedirs(folder, exist_ok=True)
        items.sort(key=lambda x: x[0])
        path = os.path.join(folder, f"{ACCOUNT}_CloudTrail_{REGION}_{stamp}_bench.json.gz")
        with gzip.open(path, "wt", compresslevel=6) as f:
            json.dump({"Records": [r for _, r in items]}, f, separators=(",", ":"))

    allow_all = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam = {
        "UserDetailList": [{"UserName": u, "UserId": "AIDA" + u.upper(), "Arn": user_arn(u), "Path": "/",
                            "CreateDate": "2024-01-01T00:00:00Z", "GroupList": [], "AttachedManagedPolicies": [],
                            "UserPolicyList": [{"PolicyName": "all", "PolicyDocument": allow_all}]} for u in users],
        "RoleDetailList": [{"RoleName": r, "RoleId": "AROA" + r.upper(), "Arn": role_arn(r), "Path": "/",
                            "CreateDate": "2024-01-01T00:00:00Z", "AttachedManagedPolicies": [],
                            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                            "RolePolicyList": [{"PolicyName": "all", "PolicyDocument": allow_all}]} for r in roles],
        "GroupDetailList": [], "Policies": [],
    }
    os.makedirs(os.path.join(args.out, "iam"), exist_ok=True)
    with open(os.path.join(args.out, "iam", "bench.json"), "w") as f:
        json.dump(iam, f)
    with open(os.path.join(args.out, "config.yaml"), "w") as f:
        f.write(f"accounts:\n  - name: bench\n    id: '{ACCOUNT}'\n    iam: iam/bench.json\n")
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump({f"{u} {r or '-'}": sorted(a) for (u, r), a in sorted(truth.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))}, f, indent=0)
    print(f"{len(events)} events, {args.sessions} sessions, {len(by_hour)} files under {args.out}")


if __name__ == "__main__":
    main()
