#!/usr/bin/env python3
"""Build the ctidx demo: two small AWS accounts with CloudTrail logs and IAM data.

What it writes (all next to this script, under data/demo/):

  AWSLogs/111111111111/CloudTrail/<region>/YYYY/MM/DD/*.json.gz
  AWSLogs/222222222222/CloudTrail/<region>/YYYY/MM/DD/*.json.gz
      CloudTrail log files laid out the way a trail delivers them to S3:
      gzip'd compact JSON objects of the form {"Records": [...]}.
  AWSLogs/111111111111/CloudTrail-Digest/us-east-1/...json.gz
      One integrity digest file. It is not a log file and holds no
      records; an ingester has to recognise it and pass over it.
  iam/demo.json, iam/backup.json
      The output of `aws iam get-account-authorization-details` for each
      account, as the AWS CLI prints it.
  config.yaml
      The account list (CloudTracker's format) pointing at the IAM files.

The story: account "demo" (111111111111) has users alice, bob and charlie
and one role, admin. Account "backup" (222222222222) has one role, also
named admin, that demo may assume. Every event lies between 2017-12-15 and
2018-03-27; only bob acted before 2018-01-01. See README.md for the
expected ctidx output.

Rerun with

    python3 data/demo/make_demo.py

It needs only the Python 3.11 standard library and is deterministic: the
identifiers come from a seeded random generator, every timestamp is fixed,
and gzip headers carry mtime 0, so the same Python/zlib produces the same
bytes on every run. Old output under AWSLogs/ is removed first.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import random
import shutil
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent

DEMO = "111111111111"
BACKUP = "222222222222"
ACCOUNT_NAMES = {DEMO: "demo", BACKUP: "backup"}
TRAIL_BUCKET = "example-org-cloudtrail"
TRAIL_NAME = "org-trail"

RNG = random.Random(20180101)
B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


# --------------------------------------------------------------------------
# Identifiers. Every AWS-style id ends in EXAMPLE so that none can be taken
# for a live credential or principal.
# --------------------------------------------------------------------------

def rand_chars(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def aws_id(prefix: str, length: int) -> str:
    """An id such as AKIA...EXAMPLE of the given total length."""
    return prefix + rand_chars(B32, length - len(prefix) - 7) + "EXAMPLE"


def new_uuid() -> str:
    return str(uuid.UUID(int=RNG.getrandbits(128), version=4))


def s3_request_id() -> str:
    return rand_chars("0123456789ABCDEF", 16)


def amz_id_2() -> str:
    return base64.b64encode(RNG.getrandbits(480).to_bytes(60, "big")).decode()


def fake_session_token(label: str) -> str:
    # Plainly not a real token: base64 of a readable phrase.
    return base64.b64encode(f"ctidx demo session token for {label}".encode()).decode()


# --------------------------------------------------------------------------
# Time helpers
# --------------------------------------------------------------------------

def t(s: str) -> dt.datetime:
    return dt.datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc)


def iso(d: dt.datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def java_time(d: dt.datetime) -> str:
    """The 'Feb 5, 2018 4:10:02 PM' style CloudTrail uses inside responses."""
    hour = d.hour % 12 or 12
    return f"{d.strftime('%b')} {d.day}, {d.year} {hour}:{d:%M:%S} {'AM' if d.hour < 12 else 'PM'}"


# --------------------------------------------------------------------------
# Principals
# --------------------------------------------------------------------------

class User:
    def __init__(self, account: str, name: str, ip: str, agent: str):
        self.account = account
        self.name = name
        self.ip = ip
        self.agent = agent
        self.user_id = aws_id("AIDA", 21)
        self.access_key = aws_id("AKIA", 20)
        self.arn = f"arn:aws:iam::{account}:user/{name}"

    def identity(self, key: str | None = None, console_since: dt.datetime | None = None) -> dict:
        ident = {
            "type": "IAMUser",
            "principalId": self.user_id,
            "arn": self.arn,
            "accountId": self.account,
            "accessKeyId": key or self.access_key,
            "userName": self.name,
        }
        if console_since is not None:
            ident["sessionContext"] = {
                "sessionIssuer": {},
                "webIdFederationData": {},
                "attributes": {"creationDate": iso(console_since), "mfaAuthenticated": "true"},
            }
        return ident


class Role:
    def __init__(self, account: str, name: str):
        self.account = account
        self.name = name
        self.role_id = aws_id("AROA", 21)
        self.arn = f"arn:aws:iam::{account}:role/{name}"


class Session:
    """Temporary credentials handed out by one AssumeRole call."""

    def __init__(self, role: Role, session_name: str, created: dt.datetime, ip: str, agent: str):
        self.role = role
        self.session_name = session_name
        self.created = created
        self.ip = ip
        self.agent = agent
        self.access_key = aws_id("ASIA", 20)
        self.arn = f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{session_name}"

    def identity(self) -> dict:
        return {
            "type": "AssumedRole",
            "principalId": f"{self.role.role_id}:{self.session_name}",
            "arn": self.arn,
            "accountId": self.role.account,
            "accessKeyId": self.access_key,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": self.role.role_id,
                    "arn": self.role.arn,
                    "accountId": self.role.account,
                    "userName": self.role.name,
                },
                "webIdFederationData": {},
                "attributes": {"creationDate": iso(self.created), "mfaAuthenticated": "false"},
            },
        }


CLI_MAC = "aws-cli/1.14.32 Python/3.6.4 Darwin/17.4.0 botocore/1.8.36"
BOTO_LINUX = "Boto3/1.5.22 Python/3.6.3 Linux/4.9.76-3.78.amzn1.x86_64 Botocore/1.8.36"
CLI_BOB = "aws-cli/1.11.190 Python/2.7.10 Darwin/16.7.0 botocore/1.7.48"

alice = User(DEMO, "alice", "203.0.113.24", CLI_MAC)
bob = User(DEMO, "bob", "192.0.2.15", CLI_BOB)
charlie = User(DEMO, "charlie", "198.51.100.77", BOTO_LINUX)
demo_admin = Role(DEMO, "admin")
backup_admin = Role(BACKUP, "admin")


# --------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------

GLOBAL_HOSTS = {"iam.amazonaws.com": "iam.amazonaws.com", "sts.amazonaws.com": "sts.amazonaws.com"}


class Log:
    """Collects records and remembers which delivery file each belongs to."""

    def __init__(self):
        self.placed: list[tuple[str, str, dt.datetime, int, dict]] = []

    def put(self, rec: dict, delay_min: int = 5, slot: int = 0) -> dict:
        when = dt.datetime.strptime(rec["eventTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
        # CloudTrail batches events into files roughly every five minutes.
        batch = when.replace(second=0, minute=when.minute - when.minute % 5)
        delivered = batch + dt.timedelta(minutes=delay_min)
        self.placed.append((rec["recipientAccountId"], rec["awsRegion"], delivered, slot, rec))
        return rec


LOG = Log()


def api_call(*, recipient: str, identity: dict | None, when: dt.datetime, source: str, name: str,
             region: str, ip: str, agent: str, params=None, response=None, read_only: bool = True,
             error: tuple[str, str] | None = None, extra: dict | None = None, resources=None,
             shared_event_id: str | None = None, request_id: str | None = None,
             event_id: str | None = None, tls: bool = True) -> dict:
    rec: dict = {"eventVersion": "1.08"}
    if identity is not None:
        rec["userIdentity"] = identity
    rec.update({
        "eventTime": iso(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": agent,
    })
    if error:
        rec["errorCode"], rec["errorMessage"] = error
    rec["requestParameters"] = params
    rec["responseElements"] = response
    if extra:
        rec["additionalEventData"] = extra
    rec["requestID"] = request_id or (s3_request_id() if source == "s3.amazonaws.com" else new_uuid())
    rec["eventID"] = event_id or new_uuid()
    rec["readOnly"] = read_only
    if resources:
        rec["resources"] = resources
    rec["eventType"] = "AwsApiCall"
    rec["managementEvent"] = True
    rec["recipientAccountId"] = recipient
    if shared_event_id:
        rec["sharedEventID"] = shared_event_id
    rec["eventCategory"] = "Management"
    if tls and not agent.endswith(".amazonaws.com"):
        if source in GLOBAL_HOSTS:
            host = GLOBAL_HOSTS[source]
        elif source == "s3.amazonaws.com":
            host = f"{params['bucketName']}.s3.{region}.amazonaws.com" if params and "bucketName" in params else f"s3.{region}.amazonaws.com"
        else:
            host = f"{source.split('.')[0]}.{region}.amazonaws.com"
        rec["tlsDetails"] = {
            "tlsVersion": "TLSv1.2",
            "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
            "clientProvidedHostHeader": host,
        }
    return rec


def user_call(user: User, when: dt.datetime, source: str, name: str, region: str, *,
              key: str | None = None, console_since: dt.datetime | None = None,
              agent: str | None = None, **kw) -> dict:
    agent = agent or ("console.amazonaws.com" if console_since else user.agent)
    return LOG.put(api_call(recipient=user.account,
                            identity=user.identity(key=key, console_since=console_since),
                            when=when, source=source, name=name, region=region,
                            ip=user.ip, agent=agent, **kw))


def session_call(sess: Session, when: dt.datetime, source: str, name: str, region: str, *,
                 agent: str | None = None, **kw) -> dict:
    return LOG.put(api_call(recipient=sess.role.account, identity=sess.identity(), when=when,
                            source=source, name=name, region=region, ip=sess.ip,
                            agent=agent or sess.agent, **kw))


def assume_role(user: User, role: Role, when: dt.datetime, duration: int = 3600) -> Session:
    """Record an sts:AssumeRole by `user` into `role` and return the session.

    Within one account CloudTrail writes a single record. When the role lives
    in another account, both accounts receive a copy: the caller's copy shows
    the IAM user, the role owner's copy shows only the calling account
    (userIdentity type AWSAccount). The two copies share requestID and
    sharedEventID but have their own eventID.
    """
    sess = Session(role, user.name, when, user.ip, user.agent)
    params = {"roleArn": role.arn, "roleSessionName": sess.session_name, "durationSeconds": duration}
    response = {
        "credentials": {
            "accessKeyId": sess.access_key,
            "sessionToken": fake_session_token(sess.arn),
            "expiration": java_time(when + dt.timedelta(seconds=duration)),
        },
        "assumedRoleUser": {"assumedRoleId": f"{role.role_id}:{sess.session_name}", "arn": sess.arn},
    }
    resources = [{"accountId": role.account, "type": "AWS::IAM::Role", "ARN": role.arn}]
    common = dict(when=when, source="sts.amazonaws.com", name="AssumeRole", region="us-east-1",
                  ip=user.ip, agent=user.agent, params=params, response=response,
                  resources=resources)
    if role.account == user.account:
        LOG.put(api_call(recipient=user.account, identity=user.identity(), **common))
    else:
        shared, request = new_uuid(), new_uuid()
        LOG.put(api_call(recipient=user.account, identity=user.identity(), shared_event_id=shared,
                         request_id=request, **common))
        LOG.put(api_call(recipient=role.account,
                         identity={"type": "AWSAccount", "principalId": user.user_id,
                                   "accountId": user.account},
                         shared_event_id=shared, request_id=request, **common))
    return sess


def create_bucket(who, when: dt.datetime, region: str, bucket: str) -> dict:
    params = {"bucketName": bucket, "Host": f"{bucket}.s3.{region}.amazonaws.com"}
    if region != "us-east-1":
        params["CreateBucketConfiguration"] = {
            "LocationConstraint": region,
            "xmlns": "http://s3.amazonaws.com/doc/2006-03-01/",
        }
    extra = {
        "SignatureVersion": "SigV4",
        "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256",
        "bytesTransferredIn": 0,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": amz_id_2(),
        "bytesTransferredOut": 0,
    }
    # S3 wraps the caller's user agent in square brackets.
    call = session_call if isinstance(who, Session) else user_call
    return call(who, when, "s3.amazonaws.com", "CreateBucket", region, params=params, extra=extra,
                read_only=False, agent=f"[{who.agent}]")


def describe_alarms(user: User, when: dt.datetime, region: str, **kw) -> dict:
    return user_call(user, when, "monitoring.amazonaws.com", "DescribeAlarms", region,
                     params={"maxRecords": 100}, **kw)


def alarm_history(user: User, when: dt.datetime, region: str, alarm: str, **kw) -> dict:
    return user_call(user, when, "monitoring.amazonaws.com", "DescribeAlarmHistory", region,
                     params={"alarmName": alarm, "historyItemType": "StateUpdate", "maxRecords": 50},
                     **kw)


def describe_instances(user: User, when: dt.datetime, region: str) -> dict:
    return user_call(user, when, "ec2.amazonaws.com", "DescribeInstances", region,
                     params={"instancesSet": {}, "filterSet": {}})


def describe_security_groups(user: User, when: dt.datetime, region: str) -> dict:
    return user_call(user, when, "ec2.amazonaws.com", "DescribeSecurityGroups", region,
                     params={"securityGroupSet": {}, "securityGroupIdSet": {}, "filterSet": {}})


def list_functions(user: User, when: dt.datetime, region: str) -> dict:
    return user_call(user, when, "lambda.amazonaws.com", "ListFunctions20150331", region)


def trail_acl_check(account: str, when: dt.datetime) -> dict:
    """CloudTrail itself checking its bucket's ACL: an AWSService caller."""
    return LOG.put(api_call(
        recipient=account,
        identity={"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"},
        when=when, source="s3.amazonaws.com", name="GetBucketAcl", region="us-east-1",
        ip="cloudtrail.amazonaws.com", agent="cloudtrail.amazonaws.com",
        params={"bucketName": TRAIL_BUCKET, "Host": f"{TRAIL_BUCKET}.s3.amazonaws.com", "acl": ""},
        extra={"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-SHA",
               "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader",
               "x-amz-id-2": amz_id_2(), "bytesTransferredOut": 540},
        tls=False))


def service_event(account: str, when: dt.datetime, region: str, source: str, name: str, *,
                  identity: dict | None, details: dict | None = None,
                  resources=None) -> dict:
    rec: dict = {"eventVersion": "1.08"}
    if identity is not None:
        rec["userIdentity"] = identity
    rec.update({
        "eventTime": iso(when),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source,
        "userAgent": source,
        "requestParameters": None,
        "responseElements": None,
        "eventID": new_uuid(),
        "readOnly": False,
    })
    if resources:
        rec["resources"] = resources
    rec.update({"eventType": "AwsServiceEvent", "managementEvent": True, "recipientAccountId": account})
    if details:
        rec["serviceEventDetails"] = details
    rec["eventCategory"] = "Management"
    return LOG.put(rec)


# --------------------------------------------------------------------------
# The story, in time order
# --------------------------------------------------------------------------

KMS_KEY = f"arn:aws:kms:us-west-2:{DEMO}:key/{new_uuid()}"
ALARMS = ["billing-over-500", "api-5xx-rate", "rds-cpu-high"]

# 2017-12-15: bob's last activity, two weeks before the analysis window.
describe_instances(bob, t("2017-12-15 16:40:12"), "us-west-2")
describe_security_groups(bob, t("2017-12-15 16:40:49"), "us-west-2")
describe_instances(bob, t("2017-12-15 16:52:03"), "us-east-1")
trail_acl_check(DEMO, t("2017-12-15 16:47:30"))

# 2018-01-08: alice reviews alarms; she tries iam:ListUsers and is refused.
describe_alarms(alice, t("2018-01-08 14:02:31"), "us-east-1")
alarm_history(alice, t("2018-01-08 14:02:58"), "us-east-1", ALARMS[0])
user_call(alice, t("2018-01-08 14:05:10"), "iam.amazonaws.com", "ListUsers", "us-east-1",
          error=("AccessDenied", f"User: {alice.arn} is not authorized to perform: "
                                 f"iam:ListUsers on resource: arn:aws:iam::{DEMO}:user/"))
user_call(alice, t("2018-01-08 14:05:41"), "iam.amazonaws.com", "ListUsers", "us-east-1",
          params={"maxItems": 100},
          error=("AccessDenied", f"User: {alice.arn} is not authorized to perform: "
                                 f"iam:ListUsers on resource: arn:aws:iam::{DEMO}:user/"))
describe_alarms(alice, t("2018-01-08 14:21:44"), "us-west-2")
DUPLICATED = describe_alarms(alice, t("2018-01-08 14:22:03"), "us-west-2")
# CloudTrail delivers at least once: the same record also turns up in a later file.
LOG.put(DUPLICATED, delay_min=15)
alarm_history(alice, t("2018-01-08 14:23:17"), "us-west-2", ALARMS[1])
console_start = t("2018-01-08 17:29:02")
console_key = aws_id("ASIA", 20)
for i, minute in enumerate([30, 31, 33, 36, 44, 51]):
    describe_alarms(alice, console_start.replace(minute=minute, second=(7 * i + 11) % 60),
                    "us-east-1", key=console_key, console_since=console_start)
trail_acl_check(DEMO, t("2018-01-08 14:12:20"))
service_event(DEMO, t("2018-01-08 03:00:41"), "us-west-2", "kms.amazonaws.com",
              "DeleteExpiredKeyMaterial", identity=None,
              resources=[{"accountId": DEMO, "type": "AWS::KMS::Key", "ARN": KMS_KEY}])

# 2018-01-09: alice creates a bucket while her audit policy (v1) still allows it.
create_bucket(alice, t("2018-01-09 10:15:06"), "us-west-2", "alice-audit-exports-demo")
alarm_history(alice, t("2018-01-09 10:16:40"), "us-west-2", ALARMS[1])
describe_alarms(alice, t("2018-01-09 10:17:02"), "us-west-2")

# 2018-01-16: charlie looks around, then becomes admin to create one bucket.
for minute, sec in [(5, 2), (5, 37), (6, 10), (9, 48)]:
    describe_instances(charlie, t(f"2018-01-16 09:{minute:02d}:{sec:02d}"), "us-west-2")
describe_security_groups(charlie, t("2018-01-16 09:06:22"), "us-west-2")
list_functions(charlie, t("2018-01-16 09:12:40"), "us-west-2")
list_functions(charlie, t("2018-01-16 09:13:05"), "us-west-2")
charlie_admin_1 = assume_role(charlie, demo_admin, t("2018-01-16 09:30:05"))
create_bucket(charlie_admin_1, t("2018-01-16 09:31:40"), "us-east-1", "charlie-build-artifacts-demo")
describe_instances(charlie, t("2018-01-16 09:40:12"), "us-west-2")
trail_acl_check(DEMO, t("2018-01-16 09:02:55"))

# 2018-02-05: alice becomes admin, creates a user and a bucket.
alice_admin_1 = assume_role(alice, demo_admin, t("2018-02-05 15:10:02"))
new_user_id = aws_id("AIDA", 21)
session_call(alice_admin_1, t("2018-02-05 15:12:30"), "iam.amazonaws.com", "CreateUser", "us-east-1",
             params={"userName": "reporting-bot", "path": "/"},
             response={"user": {"path": "/", "userName": "reporting-bot", "userId": new_user_id,
                                "arn": f"arn:aws:iam::{DEMO}:user/reporting-bot",
                                "createDate": java_time(t("2018-02-05 15:12:30"))}},
             read_only=False)
create_bucket(alice_admin_1, t("2018-02-05 15:14:10"), "us-west-2", "demo-reporting-exports")
describe_alarms(alice, t("2018-02-05 15:20:33"), "us-east-1")
alarm_history(alice, t("2018-02-05 15:21:09"), "us-east-1", ALARMS[2])
service_event(DEMO, t("2018-02-05 07:45:19"), "us-east-1", "kms.amazonaws.com", "RotateKey",
              identity={"accountId": DEMO, "invokedBy": "kms.amazonaws.com"},
              resources=[{"accountId": DEMO, "type": "AWS::KMS::Key",
                          "ARN": f"arn:aws:kms:us-east-1:{DEMO}:key/{new_uuid()}"}])

# 2018-02-20: charlie assumes the admin role in the backup account.
charlie_backup = assume_role(charlie, backup_admin, t("2018-02-20 11:00:04"))
create_bucket(charlie_backup, t("2018-02-20 11:02:15"), "us-east-1", "backup-restore-staging-demo")
create_bucket(charlie_backup, t("2018-02-20 11:08:51"), "us-west-2", "backup-restore-staging-demo-west")
list_functions(charlie, t("2018-02-20 11:20:30"), "us-east-1")
describe_instances(charlie, t("2018-02-20 11:21:02"), "us-east-1")
trail_acl_check(BACKUP, t("2018-02-20 11:04:12"))
service_event(BACKUP, t("2018-02-20 02:15:00"), "us-west-2", "kms.amazonaws.com",
              "DeleteExpiredKeyMaterial", identity=None,
              resources=[{"accountId": BACKUP, "type": "AWS::KMS::Key",
                          "ARN": f"arn:aws:kms:us-west-2:{BACKUP}:key/{new_uuid()}"}])

# 2018-03-12: routine checks; alice is admin once more, for one bucket.
describe_alarms(alice, t("2018-03-12 08:55:12"), "us-west-2")
alarm_history(alice, t("2018-03-12 08:56:03"), "us-east-1", ALARMS[0])
alice_admin_2 = assume_role(alice, demo_admin, t("2018-03-12 09:03:44"))
create_bucket(alice_admin_2, t("2018-03-12 09:05:29"), "us-east-1", "alice-scratch-demo")
for minute, sec in [(40, 1), (40, 33), (42, 15)]:
    describe_instances(charlie, t(f"2018-03-12 13:{minute:02d}:{sec:02d}"), "us-west-2")
list_functions(charlie, t("2018-03-12 13:44:50"), "us-west-2")
trail_acl_check(DEMO, t("2018-03-12 09:00:09"))

# 2018-03-27: charlie is admin again, still only for S3.
charlie_admin_2 = assume_role(charlie, demo_admin, t("2018-03-27 16:20:18"))
create_bucket(charlie_admin_2, t("2018-03-27 16:21:55"), "us-east-1", "charlie-release-candidates-demo")
describe_security_groups(charlie, t("2018-03-27 16:30:40"), "us-east-1")
describe_alarms(alice, t("2018-03-27 17:02:00"), "us-east-1")


# --------------------------------------------------------------------------
# IAM snapshots (get-account-authorization-details), taken 2018-03-31
# --------------------------------------------------------------------------

V = "2012-10-17"


def doc(*statements: dict) -> dict:
    return {"Version": V, "Statement": list(statements)}


def allow(actions, resources="*", sid: str | None = None) -> dict:
    st: dict = {}
    if sid:
        st["Sid"] = sid
    st.update({"Effect": "Allow", "Action": actions, "Resource": resources})
    return st


AUDIT_READ = [
    "cloudwatch:Describe*",
    "cloudwatch:Get*",
    "cloudwatch:List*",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:LookupEvents",
    "ec2:Describe*",
    "lambda:List*",
    "lambda:GetPolicy",
    "logs:Describe*",
    "s3:GetBucketAcl",
    "s3:GetBucketLocation",
    "s3:GetBucketPolicy",
    "s3:ListAllMyBuckets",
    "sns:ListSubscriptions",
    "sns:ListTopics",
]

AUDIT_V1 = doc(allow(AUDIT_READ + ["s3:CreateBucket"], sid="AuditRead"))
AUDIT_V2 = doc(allow(AUDIT_READ, sid="AuditRead"))
DEV_READ = doc(allow(["ec2:Describe*", "lambda:List*", "lambda:Get*", "logs:Describe*",
                      "logs:FilterLogEvents"]))
ADMIN_DOC = doc(allow("*"))
ASSUME_ADMIN = doc(allow("sts:AssumeRole", [demo_admin.arn, backup_admin.arn]))


def managed_policy(account: str, name: str, versions: list[tuple[dict, str]], default: str,
                   attachments: int, description: str | None = None) -> dict:
    arn = f"arn:aws:iam::{account}:policy/{name}"
    pol = {
        "PolicyName": name,
        "PolicyId": aws_id("ANPA", 21),
        "Arn": arn,
        "Path": "/",
        "DefaultVersionId": default,
        "AttachmentCount": attachments,
        "PermissionsBoundaryUsageCount": 0,
        "IsAttachable": True,
        "CreateDate": versions[0][1],
        "UpdateDate": versions[-1][1],
    }
    if description:
        pol["Description"] = description
    # Listed oldest first, so reading the first entry gives the stale version.
    pol["PolicyVersionList"] = [
        {"Document": d, "VersionId": f"v{i + 1}", "IsDefaultVersion": f"v{i + 1}" == default,
         "CreateDate": created}
        for i, (d, created) in enumerate(versions)
    ]
    return pol


audit_policy = managed_policy(
    DEMO, "SecurityAuditDemo",
    [(AUDIT_V1, "2017-09-02T18:05:40Z"), (AUDIT_V2, "2018-02-01T10:22:07Z")],
    default="v2", attachments=1,
    description="Read-only audit access (v2 drops s3:CreateBucket)")
dev_policy = managed_policy(DEMO, "DeveloperReadDemo", [(DEV_READ, "2017-10-01T00:58:12Z")],
                            default="v1", attachments=1)
aws_admin_policy = {
    "PolicyName": "AdministratorAccess",
    "PolicyId": aws_id("ANPA", 21),
    "Arn": "arn:aws:iam::aws:policy/AdministratorAccess",
    "Path": "/",
    "DefaultVersionId": "v1",
    "AttachmentCount": 1,
    "PermissionsBoundaryUsageCount": 0,
    "IsAttachable": True,
    "CreateDate": "2015-02-06T18:39:46Z",
    "UpdateDate": "2015-02-06T18:39:46Z",
    "PolicyVersionList": [
        {"Document": ADMIN_DOC, "VersionId": "v1", "IsDefaultVersion": True,
         "CreateDate": "2015-02-06T18:39:46Z"},
    ],
}

developers_group = {
    "Path": "/",
    "GroupName": "developers",
    "GroupId": aws_id("AGPA", 21),
    "Arn": f"arn:aws:iam::{DEMO}:group/developers",
    "CreateDate": "2017-10-01T00:59:30Z",
    "GroupPolicyList": [],
    "AttachedManagedPolicies": [{"PolicyName": "DeveloperReadDemo", "PolicyArn": dev_policy["Arn"]}],
}


def user_detail(user: User, created: str, *, inline=(), groups=(), attached=()) -> dict:
    return {
        "Path": "/",
        "UserName": user.name,
        "UserId": user.user_id,
        "Arn": user.arn,
        "CreateDate": created,
        "UserPolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in inline],
        "GroupList": list(groups),
        "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}
                                    for p in attached],
        "Tags": [],
    }


def role_detail(role: Role, created: str, trust: dict, *, inline=(), attached=()) -> dict:
    return {
        "Path": "/",
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "CreateDate": created,
        "AssumeRolePolicyDocument": trust,
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": n, "PolicyDocument": d} for n, d in inline],
        "AttachedManagedPolicies": [{"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]}
                                    for p in attached],
        "Tags": [],
        "RoleLastUsed": {},
    }


demo_iam = {
    "UserDetailList": [
        user_detail(alice, "2017-09-02T18:02:14Z", inline=[("assume-admin", ASSUME_ADMIN)],
                    attached=[audit_policy]),
        user_detail(bob, "2017-10-15T20:31:44Z", groups=["developers"]),
        user_detail(charlie, "2017-10-01T01:01:01Z", inline=[("assume-admin", ASSUME_ADMIN)],
                    groups=["developers"]),
    ],
    "GroupDetailList": [developers_group],
    "RoleDetailList": [
        role_detail(demo_admin, "2017-09-02T18:10:09Z",
                    doc({"Effect": "Allow",
                         "Principal": {"AWS": [alice.arn, charlie.arn, f"arn:aws:iam::{DEMO}:root"]},
                         "Action": "sts:AssumeRole"}),
                    attached=[aws_admin_policy]),
    ],
    "Policies": [audit_policy, dev_policy, aws_admin_policy],
}

backup_iam = {
    "UserDetailList": [],
    "GroupDetailList": [],
    "RoleDetailList": [
        role_detail(backup_admin, "2017-09-05T09:41:27Z",
                    doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEMO}:root"},
                         "Action": "sts:AssumeRole"}),
                    inline=[("admin", ADMIN_DOC)]),
    ],
    "Policies": [],
}


CONFIG = f"""\
# Demo accounts for ctidx (CloudTracker's config format). The IAM paths are
# relative to this file's folder; the CloudTrail logs are under AWSLogs/ here.
# Every demo event is dated 2017-12-15 .. 2018-03-27, so run commands with
# --start 2018-01-01 (bob's only activity is from December 2017).
accounts:
  - name: demo
    id: {DEMO}
    iam: iam/demo.json
  - name: backup
    id: {BACKUP}
    iam: iam/backup.json
"""


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main() -> None:
    logs_root = HERE / "AWSLogs"
    if logs_root.exists():
        shutil.rmtree(logs_root)

    files: dict[tuple[str, str, dt.datetime, int], list[dict]] = {}
    for account, region, delivered, slot, rec in LOG.placed:
        files.setdefault((account, region, delivered, slot), []).append(rec)

    written: dict[str, list[tuple[str, bytes, list[dict]]]] = {}
    for key in sorted(files):
        account, region, delivered, slot = key
        records = sorted(files[key], key=lambda r: (r["eventTime"], r["eventID"]))
        stamp = delivered.strftime("%Y%m%dT%H%MZ")
        name = f"{account}_CloudTrail_{region}_{stamp}_{rand_chars(ALNUM, 16)}.json.gz"
        rel = f"AWSLogs/{account}/CloudTrail/{region}/{delivered:%Y/%m/%d}/{name}"
        raw = json.dumps({"Records": records}, separators=(",", ":")).encode()
        write(HERE / rel, gz(raw))
        written.setdefault(f"{account}/{region}/{delivered:%Y%m%d}", []).append((rel, raw, records))

    # One digest file for demo's us-east-1 deliveries on 2018-01-08.
    day = written[f"{DEMO}/us-east-1/20180108"]
    start, end = t("2018-01-08 14:00:00"), t("2018-01-08 18:00:00")
    digest_rel = (f"AWSLogs/{DEMO}/CloudTrail-Digest/us-east-1/2018/01/08/"
                  f"{DEMO}_CloudTrail-Digest_us-east-1_{TRAIL_NAME}_us-east-1_{end:%Y%m%dT%H%M%SZ}.json.gz")
    digest = {
        "awsAccountId": DEMO,
        "digestStartTime": iso(start),
        "digestEndTime": iso(end),
        "digestS3Bucket": TRAIL_BUCKET,
        "digestS3Object": digest_rel,
        "digestPublicKeyFingerprint": hashlib.md5(b"ctidx demo digest key").hexdigest(),
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": max(r["eventTime"] for _, _, rs in day for r in rs),
        "oldestEventTime": min(r["eventTime"] for _, _, rs in day for r in rs),
        "previousDigestS3Bucket": None,
        "previousDigestS3Object": None,
        "previousDigestHashValue": None,
        "previousDigestHashAlgorithm": None,
        "previousDigestSignature": None,
        "logFiles": [
            {
                "s3Bucket": TRAIL_BUCKET,
                "s3Object": rel,
                "hashValue": hashlib.sha256(raw).hexdigest(),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": max(r["eventTime"] for r in rs),
                "oldestEventTime": min(r["eventTime"] for r in rs),
            }
            for rel, raw, rs in day
        ],
    }
    write(HERE / digest_rel, gz(json.dumps(digest, separators=(",", ":")).encode()))

    for name, data in (("demo", demo_iam), ("backup", backup_iam)):
        write(HERE / "iam" / f"{name}.json", (json.dumps(data, indent=4) + "\n").encode())
    write(HERE / "config.yaml", CONFIG.encode())

    counts = {}
    for account, _, _, _, _ in LOG.placed:
        counts[account] = counts.get(account, 0) + 1
    n_files = len(files)
    print(f"wrote {n_files} log files, 1 digest file; records per account: "
          + ", ".join(f"{ACCOUNT_NAMES[a]}={c}" for a, c in sorted(counts.items())))


if __name__ == "__main__":
    main()
