#!/usr/bin/env python3
"""Runs the SQL in sql/ unchanged on DuckDB over a ctidx store and compares every answer with ctidx's.

Shows two things: the store is plain Hive-partitioned Parquet another engine reads with no
ctidx-specific metadata, and the named queries are portable SQL (DuckDB binds their `$name`
parameters itself; its only help is a one-line json_extract_scalar macro, the Athena/Trino function ctidx
provides). Not part of `cargo test`: it needs the duckdb Python package (pip install duckdb).

  python3 tests/crosscheck/duckdb_sql.py --store STORE --ctidx target/release/ctidx \
      --account 111111111111 --start 2024-03-01 --end 2024-03-31 \
      --users arn:aws:iam::111111111111:user/user000,... --roles arn:aws:iam::111111111111:role/role00,...

The session steps (session_events, session_links) are stored as tables in both engines, as the README
describes for Athena.
"""

import argparse
import csv
import datetime as dt
import io
import os
import re
import subprocess
import sys

import duckdb

SQL = os.path.join(os.path.dirname(__file__), "..", "..", "sql")


def text(name):
    with open(os.path.join(SQL, name + ".sql")) as f:
        return f.read()


def literal(value):
    return "'" + value.replace("'", "''") + "'"


def paste(sql, params):
    """The query with its `$name` parameters replaced by literals, for `ctidx sql` (which takes no
    parameters)."""
    lines = [l for l in sql.splitlines() if not l.lstrip().startswith("--")]
    # Literals are kept whole; only names outside them are replaced.
    parts = re.split(r"('(?:[^']|'')*')", "\n".join(lines))
    used = set()

    def value(match):
        used.add(match.group(1))
        return literal(str(params[match.group(1)]))

    out = "".join(p if p.startswith("'") else re.sub(r"\$([a-z_]+)", value, p) for p in parts)
    assert used == set(params), (sorted(used), sorted(params))
    return out


def ctidx_rows(args, script):
    result = subprocess.run([args.ctidx, "sql", "--store", args.store, "--format", "csv"],
                            input=script, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"ctidx sql failed: {result.stderr}")
    rows = list(csv.reader(io.StringIO(result.stdout)))[1:]
    return sorted(",".join(row) for row in rows)


def duck_rows(con, sql, params):
    rows = con.execute(sql, params).fetchall()
    return sorted(",".join("" if v is None else str(v) for v in row) for row in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--ctidx", default="ctidx")
    ap.add_argument("--account", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--users", default="")
    ap.add_argument("--roles", default="")
    ap.add_argument("--depth", default="5")
    args = ap.parse_args()
    users = [u for u in args.users.split(",") if u]
    roles = [r for r in args.roles.split(",") if r]
    day_before = (dt.date.fromisoformat(args.start) - dt.timedelta(days=1)).isoformat()

    con = duckdb.connect()
    # account ids keep their leading zeros: partition values are text, as ctidx declares them
    con.execute(f"""CREATE VIEW cloudtrail AS SELECT * FROM read_parquet(
        {literal(os.path.join(args.store, '*', '*', '*.parquet'))},
        hive_partitioning = true, hive_types = {{'account': VARCHAR, 'day': VARCHAR}})""")
    con.execute("CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)")

    window = {"account": args.account, "first_day": args.start, "last_day": args.end}
    cases = [("active_users", window), ("active_roles", window), ("event_names", {})]
    cases += [("user_calls", {**window, "principal_arn": u}) for u in users]
    cases += [("role_calls", {**window, "principal_arn": r}) for r in roles]

    checked = differ = rows = 0

    def compare(label, duck, ours):
        nonlocal checked, differ, rows
        checked += 1
        rows += len(ours)
        if duck != ours:
            differ += 1
            print(f"{label}: DuckDB {len(duck)} rows, ctidx {len(ours)} rows differ")
            for row in sorted(set(duck) ^ set(ours))[:10]:
                print("   ", "duckdb" if row in duck else "ctidx ", row)

    for name, params in cases:
        sql = text(name)
        compare(f"{name} {params.get('principal_arn', '')}", duck_rows(con, sql, params),
                ctidx_rows(args, paste(sql, params)))

    if users or roles:
        events_params = {"first_day": day_before, "last_day": args.end}
        con.execute("CREATE TABLE session_events AS " + text("session_events"), events_params)
        con.execute("CREATE TABLE session_links AS " + text("session_links"))
        steps = ("CREATE TABLE session_events AS " + paste(text("session_events"), events_params) + ";\n"
                 + "CREATE TABLE session_links AS " + paste(text("session_links"), {}) + ";\n")
        for user in users:
            unique_id = con.execute(
                "SELECT any_value(split_part(useridentity.principalid, ':', 1)) FROM cloudtrail "
                "WHERE useridentity.arn = ?", [user]).fetchone()[0] or ""
            for role in roles:
                params = {"principal_arn": user, "principal_id": unique_id, "session_prefix": user + "/",
                          "max_depth": int(args.depth), "role_arn": role, "role_account": args.account,
                          "first_day": args.start, "last_day": args.end}
                sql = text("session_calls")
                compare(f"session_calls {user} -> {role}", duck_rows(con, sql, params),
                        ctidx_rows(args, steps + paste(sql, params)))
        for role in roles:
            params = {**window, "role_arn": role, "max_depth": int(args.depth)}
            sql = text("role_calls_by_person")
            compare(f"role_calls_by_person {role}", duck_rows(con, sql, params),
                    ctidx_rows(args, steps + paste(sql, params)))

    print(f"{checked} answers ({rows} rows) compared, {differ} differ (DuckDB {duckdb.__version__})")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
