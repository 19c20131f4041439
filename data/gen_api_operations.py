#!/usr/bin/env python3
"""Regenerates data/api-operations.tsv: every API operation of the AWS SDK service models, by IAM prefix.

Source: the PyPI package botocore, version 1.44.5 (Apache-2.0 licence). Its folder botocore/data holds one
service model per service and API version (<service>/<version>/service-2.json, often gzipped), listing
every operation of that API. ctidx reads the output to find IAM actions that no API operation performs
(permission-only and console-only actions), whose use CloudTrail therefore never shows by name.

Rerun from the repository root with Python 3.11 or later:
    pip install botocore==1.44.5
    python3 data/gen_api_operations.py > data/api-operations.tsv

To move to a newer botocore, change BOTOCORE_VERSION below and the two version numbers above, install
that version and rerun; review the services the script reports as unmapped on stderr.

How a service model is assigned to an IAM prefix, first rule that applies:
 1. Models authenticated only by bearer tokens are skipped: their operations are not authorised by IAM
    policies, so they say nothing about IAM actions.
 2. PREFIX_OVERRIDES below, by botocore service name (None: skip the model), each with its reason.
 3. The event-source host `<endpointPrefix>.amazonaws.com`, when data/event-mapping.tsv has a `service`
    row for it: that row's IAM prefix (the same host knowledge ctidx uses to read CloudTrail events).
 4. metadata.signingName (or endpointPrefix when the model names no signing name), when the IAM action
    catalogue (data/iam-actions.tsv) has that prefix: SigV4 requests are signed for the service name
    that IAM authorises them under.
 5. metadata.endpointPrefix, when the catalogue has that prefix.
Otherwise the model is skipped and reported on stderr; ctidx then says nothing about that service.

Every API version found is read and the operations are merged, so an operation that only an older API
version has still counts. Several models can share one prefix (lambda, sagemaker, ses, ...); their
operations are merged too.

EVENT_NAMES below adds, with a note as third column, the few CloudTrail event names that are no SDK
operation's name but are an IAM action's name (calls made by agents, Git clients or the console, and S3's
renamed public-access-block events); a source is named for each.

Output: comment lines starting with `#`, then `IAM prefix<TAB>name[<TAB>note]` lines sorted by prefix and
by lower-cased name, without duplicates. The `# source:` line is the reason text ctidx shows for an action
that no operation performs.
"""

import gzip
import json
import os
import sys
from pathlib import Path

PACKAGE = "botocore"
BOTOCORE_VERSION = "1.44.5"
LICENCE = "Apache-2.0"

DATA = Path(__file__).resolve().parent
CATALOGUE = DATA / "iam-actions.tsv"
EVENT_MAPPING = DATA / "event-mapping.tsv"

# botocore service name -> (IAM prefix or None to skip the model, reason).
PREFIX_OVERRIDES = {
    # IoT data-plane models are signed for their own names, but IAM authorises them under `iot`
    # (iot:Publish, iot:GetThingShadow, iot:OpenTunnel, ...).
    "iot-data": ("iot", "IoT data plane: signed as iotdata, authorised as iot:*"),
    # The jobs data plane has a prefix of its own in the Service Authorization Reference (AWS IoT Jobs
    # DataPlane): iotjobsdata:DescribeJobExecution, GetPendingJobExecutions, ...
    "iot-jobs-data": ("iotjobsdata", "IoT jobs data plane: signed as iot-jobs-data, authorised as iotjobsdata:*"),
    "iotsecuretunneling": ("iot", "IoT secure tunneling: signed as IoTSecuredTunneling, authorised as iot:*"),
    "mturk": ("mechanicalturk", "Mechanical Turk: endpoint mturk-requester, IAM prefix mechanicalturk"),
    # Partner Central APIs are signed per API, but IAM authorises all of them under `partnercentral`.
    "partnercentral-account": ("partnercentral", "Partner Central: one IAM prefix for all its APIs"),
    "partnercentral-benefits": ("partnercentral", "Partner Central: one IAM prefix for all its APIs"),
    "partnercentral-channel": ("partnercentral", "Partner Central: one IAM prefix for all its APIs"),
    "partnercentral-selling": ("partnercentral", "Partner Central: one IAM prefix for all its APIs"),
    # The s3-outposts permissions are mostly checked by S3 object and bucket calls sent to Outposts
    # endpoints; the s3outposts model holds only the endpoint-management calls.
    "s3outposts": (None, "s3-outposts permissions cover S3 calls on Outposts, which this model lacks"),
    # Signed as execute-api, but execute-api's permissions (Invoke, ManageConnections, InvalidateCache) are
    # not named after operations, and the Connect participant calls are authorised by participant tokens.
    "apigatewaymanagementapi": (None, "execute-api permissions are not named after the operations"),
    "connectparticipant": (None, "authorised by participant connection tokens, not by IAM policies"),
    # Keyspaces permissions are CQL statement kinds (cassandra:Create, cassandra:Select, ...), not the
    # names of the API operations that need them.
    "keyspaces": (None, "cassandra permissions are CQL statement kinds, not operation names"),
    "keyspacesstreams": (None, "cassandra permissions are CQL statement kinds, not operation names"),
}


# CloudTrail event names that are no SDK operation's name but are an IAM action's name, so that ctidx's
# event mapping turns such an event into that action: (IAM prefix, event name, note). Each was seen in
# public CloudTrail sample logs or is named in the service's CloudTrail documentation, as the note says.
# Without these rows the action would wrongly count as one that no call performs.
SEEN = "seen in public CloudTrail samples"
EVENT_NAMES = [
    ("s3", "GetBucketPublicAccessBlock", "CloudTrail's name for S3 GetPublicAccessBlock; " + SEEN),
    ("s3", "GetAccountPublicAccessBlock", "CloudTrail's name for S3 Control GetPublicAccessBlock; " + SEEN),
    ("ssm", "UpdateInstanceInformation", "SSM Agent call, outside the SDK; " + SEEN),
    ("ssm", "UpdateInstanceAssociationStatus", "SSM Agent call, outside the SDK; " + SEEN),
    ("ssm", "ListInstanceAssociations", "SSM Agent call, outside the SDK; " + SEEN),
    ("rds", "DescribeRecommendations", "RDS console call, outside the SDK; " + SEEN),
    ("rds", "DescribeRecommendationGroups", "RDS console call, outside the SDK; " + SEEN),
    ("bedrock", "PutFoundationModelEntitlement", "Bedrock console call, outside the SDK; " + SEEN),
] + [
    # CodeCommit User Guide, logging with CloudTrail: every CodeCommit action is logged, including those
    # documented only as permissions (Git clients' GitPull/GitPush, CodePipeline's UploadArchive, ...).
    ("codecommit", name, "CodeCommit User Guide, CloudTrail logging: all CodeCommit actions are logged")
    for name in (
        "BatchGetPullRequests",
        "CancelUploadArchive",
        "GetCommitHistory",
        "GetCommitsFromMergeBase",
        "GetObjectIdentifier",
        "GetReferences",
        "GetTree",
        "GetUploadArchiveStatus",
        "GitPull",
        "GitPush",
        "UploadArchive",
    )
]


def die(message):
    print(f"gen_api_operations.py: {message}", file=sys.stderr)
    sys.exit(1)


def tsv_rows(path):
    """Non-comment, non-blank lines of a TSV file, split on TAB."""
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.rstrip("\r\n")
            if line.strip() and not line.startswith("#"):
                yield [field.strip() for field in line.split("\t")]


def catalogue_prefixes():
    return {row[0].lower() for row in tsv_rows(CATALOGUE)}


def host_prefixes():
    """Event-source host -> IAM prefix, from the `service` rows of data/event-mapping.tsv."""
    return {row[1].lower(): row[3].lower() for row in tsv_rows(EVENT_MAPPING) if row[0] == "service"}


def load_model(folder):
    plain = folder / "service-2.json"
    packed = folder / "service-2.json.gz"
    if packed.exists():
        with gzip.open(packed, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    if plain.exists():
        with open(plain, encoding="utf-8") as handle:
            return json.load(handle)
    return None


def signed_with_sigv4(metadata):
    schemes = metadata.get("auth")
    if schemes:
        return any(scheme.startswith("aws.auth#sigv4") for scheme in schemes)
    return metadata.get("signatureVersion") in ("v4", "s3", "s3v4", "v2")


def iam_prefix(service, metadata, prefixes, hosts):
    """(prefix or None, how it was chosen)."""
    if not signed_with_sigv4(metadata):
        return None, "not signed with SigV4 (bearer-token API)"
    if service in PREFIX_OVERRIDES:
        prefix, reason = PREFIX_OVERRIDES[service]
        return prefix, f"override: {reason}"
    endpoint = (metadata.get("endpointPrefix") or "").lower()
    host = f"{endpoint}.amazonaws.com"
    if host in hosts:
        return hosts[host], f"event-mapping service row for {host}"
    signing = (metadata.get("signingName") or endpoint).lower()
    if signing in prefixes:
        return signing, "signing name"
    if endpoint in prefixes:
        return endpoint, "endpoint prefix"
    return None, f"no catalogue prefix {signing!r} or {endpoint!r}"


def main():
    try:
        import botocore
    except ImportError:
        die(f"the {PACKAGE} package is not installed: pip install {PACKAGE}=={BOTOCORE_VERSION}")
    if botocore.__version__ != BOTOCORE_VERSION:
        die(f"{PACKAGE} {botocore.__version__} is installed, this script is pinned to {BOTOCORE_VERSION}")
    root = Path(botocore.__file__).resolve().parent / "data"
    prefixes = catalogue_prefixes()
    hosts = host_prefixes()

    operations = {}  # prefix -> {lower-case name: name}
    models = 0
    for service in sorted(os.listdir(root)):
        service_dir = root / service
        if not service_dir.is_dir():
            continue
        for version in sorted(os.listdir(service_dir)):
            model = load_model(service_dir / version)
            if model is None:
                continue
            metadata = model.get("metadata", {})
            prefix, how = iam_prefix(service, metadata, prefixes, hosts)
            if prefix is None:
                print(f"skipped {service} {version}: {how}", file=sys.stderr)
                continue
            if prefix not in prefixes:
                die(f"{service}: prefix {prefix!r} is not in {CATALOGUE.name}")
            models += 1
            names = operations.setdefault(prefix, {})
            for name in model.get("operations", {}):
                # The first spelling seen wins; the reader compares without regard to case.
                names.setdefault(name.lower(), name)

    rows = {(prefix, lower): (name, "") for prefix, names in operations.items() for lower, name in names.items()}
    for prefix, name, note in EVENT_NAMES:
        if prefix not in operations:
            die(f"event name {prefix}:{name}: no service model has prefix {prefix!r}")
        if (prefix, name.lower()) in rows:
            die(f"event name {prefix}:{name} is an operation already; remove it from EVENT_NAMES")
        rows[(prefix, name.lower())] = (name, note)
    out = sys.stdout
    out.write("# API operations of the AWS SDK service models, by the IAM prefix that authorises them.\n")
    out.write(
        f"# Generated by data/gen_api_operations.py from PyPI package {PACKAGE}=={BOTOCORE_VERSION} "
        f"({LICENCE} licence), the service models under botocore/data.\n"
    )
    out.write("# Do not edit by hand: rerun the script (see its header).\n")
    out.write(
        "# An IAM action of a prefix listed here that no operation performs (same name without regard to case, "
        "a trailing API date removed) and that no data/event-mapping.tsv entry names is taken as not recorded.\n"
    )
    out.write(
        f"# source: no API operation performs it ({PACKAGE} {BOTOCORE_VERSION} service models): "
        "permission-only or console-only\n"
    )
    out.write(
        f"# Models: {models}; prefixes: {len(operations)}; rows: {len(rows)}, of which {len(EVENT_NAMES)} "
        "are CloudTrail event names that no operation has (see EVENT_NAMES in the script).\n"
    )
    out.write("# Columns: IAM prefix, operation or event name, and for event names a note saying why.\n")
    for (prefix, _), (name, note) in sorted(rows.items()):
        out.write(f"{prefix}\t{name}\t{note}\n" if note else f"{prefix}\t{name}\n")


if __name__ == "__main__":
    main()
