#!/usr/bin/env python3
"""Fills fuzz/corpus/<target>/ with seeds: real CloudTrail logs and IAM exports from
$CTIDX_REALDATA_DIR (default: ../shared/realdata beside the repository), the repository's demo data,
test fixtures and named queries, and the hand-written inputs under fuzz/seeds/<target>/.

Large files are also cut into one seed per record, entity or policy document, so that the fuzzers
mutate small inputs. Seeds are named by their content's hash: running this again adds nothing twice.
The corpus folders are not part of the repository (the real data belongs to others).
"""

import gzip
import hashlib
import json
import os
import sys
import urllib.parse
from pathlib import Path

FUZZ_DIR = Path(__file__).resolve().parent
REPO = FUZZ_DIR.parent
CORPUS = FUZZ_DIR / "corpus"
# A whole file larger than this becomes a seed only through its parts.
WHOLE_FILE_LIMIT = 64 << 10
AUTHZ_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")

added = {}


def add(target, content):
    if isinstance(content, str):
        content = content.encode()
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / hashlib.sha1(content).hexdigest()
    if not path.exists():
        path.write_bytes(content)
        added[target] = added.get(target, 0) + 1


def as_json(value):
    return json.dumps(value, ensure_ascii=False)


def files(root, *suffixes):
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes))


def read_text(path):
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def cloudtrail_seeds(path):
    stored = path.read_bytes()
    text = read_text(path)
    if path.name.endswith(".gz") and len(stored) <= WHOLE_FILE_LIMIT:
        add("decode_gzip", b"\x00" + stored)
    if len(text) <= WHOLE_FILE_LIMIT:
        add("decode_plain", text)
    try:
        document = json.loads(text)
    except ValueError:
        return
    records = document.get("Records", []) if isinstance(document, dict) else document
    if not isinstance(records, list):
        return
    for index, record in enumerate(records):
        if isinstance(record, dict):
            for member in ("requestParameters", "responseElements", "additionalEventData"):
                if isinstance(record.get(member), dict):
                    add("json_keep_only", as_json(record[member]))
        single = as_json({"Records": [record]})
        add("decode_plain", single)
        if index < 3:
            # Selector 1 and 2: one gzip member, and the text cut into two members.
            add("decode_gzip", b"\x01" + single.encode())
            add("decode_gzip", b"\x02" + as_json([record]).encode())
    if records:
        add("decode_plain", as_json(records[:3]))


def policy_seeds(document):
    """Every shape a policy document takes: JSON text as written, and percent-encoded."""
    text = document if isinstance(document, str) else as_json(document)
    add("iam_policy", text)
    add("iam_policy", urllib.parse.quote(text, safe=""))


def authz_seeds(path):
    text = path.read_bytes()
    if len(text) <= WHOLE_FILE_LIMIT:
        add("iam_authz", text)
    try:
        details = json.loads(text)
    except ValueError:
        return
    if not isinstance(details, dict):
        return
    for list_name in AUTHZ_LISTS:
        for entry in details.get(list_name) or []:
            add("iam_authz", as_json({list_name: [entry]}))
            if not isinstance(entry, dict):
                continue
            for policy_list in ("UserPolicyList", "GroupPolicyList", "RolePolicyList"):
                for inline in entry.get(policy_list) or []:
                    if isinstance(inline, dict) and "PolicyDocument" in inline:
                        policy_seeds(inline["PolicyDocument"])
            if "AssumeRolePolicyDocument" in entry:
                policy_seeds(entry["AssumeRolePolicyDocument"])
            for version in entry.get("PolicyVersionList") or []:
                if isinstance(version, dict) and "Document" in version:
                    policy_seeds(version["Document"])


def main():
    realdata = Path(os.environ.get("CTIDX_REALDATA_DIR") or REPO.parent / "shared" / "realdata")
    if not realdata.is_dir():
        print(f"seed.py: no real data at {realdata}; set CTIDX_REALDATA_DIR", file=sys.stderr)

    for path in files(realdata / "cloudtrail", ".json", ".json.gz"):
        cloudtrail_seeds(path)
    for path in files(REPO / "data" / "demo" / "AWSLogs", ".json", ".json.gz"):
        if "CloudTrail-Digest" not in path.parts:
            cloudtrail_seeds(path)

    authz_files = (
        files(realdata / "iam", ".json")
        + files(REPO / "data" / "demo" / "iam", ".json")
        + files(REPO / "tests" / "fixtures", ".json")
        + files(REPO / "tests" / "crosscheck" / "fixtures", ".json")
    )
    for path in authz_files:
        authz_seeds(path)

    add("config_yaml", (REPO / "data" / "demo" / "config.yaml").read_bytes())
    for path in files(REPO / "sql", ".sql"):
        add("sql_split", path.read_bytes())

    for folder in sorted((FUZZ_DIR / "seeds").iterdir()):
        for path in files(folder, ""):
            add(folder.name, path.read_bytes())

    for target in sorted(p.name for p in CORPUS.iterdir() if p.is_dir()):
        total = sum(1 for _ in (CORPUS / target).iterdir())
        print(f"{target}: {total} seeds ({added.get(target, 0)} new)")


if __name__ == "__main__":
    main()
