#!/usr/bin/env python3
"""Runs the table definition of `ctidx ddl`, then every query in sql/, on Spark or DuckDB over a
ctidx store, and compares each answer with `ctidx sql`'s, row for row.

  check_sql.py --engine spark|duckdb --ddl DDL_FILE --store STORE --ctidx CTIDX \
      --start YYYY-MM-DD --end YYYY-MM-DD

A query's engine variant (`name.spark.sql`, `name.duckdb.sql`) is used where there is one. Named
parameters (`$name`) are bound by the engine: DuckDB takes `$name` as it is, Spark as `:name`.
ctidx gets the same values pasted in as literals. Intermediate steps (session_events, session_links,
person_sessions) are kept as tables in every engine, as the README describes for Athena.

The users and roles asked about are found in the store: the first --principals of each kind, by ARN,
in every account, and for the session steps the first 2 x --principals (user, role) pairs in which the
user opened a session of the role. Exits with 1 when an answer differs, when a file of sql/ was not run, or when all
of a file's answers were empty (the store then cannot show that the engines agree on it).
"""

import argparse
import csv
import glob
import io
import os
import re
import subprocess
import sys
import time

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sql")
ENGINE_SUFFIXES = ("athena", "spark", "duckdb")


def literal(value):
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def code_parts(sql):
    """The text split into literals (kept whole) and the code between them, without comments."""
    lines = [line for line in sql.splitlines() if not line.lstrip().startswith("--")]
    return re.split(r"('(?:[^']|'')*')", "\n".join(lines))


def used_parameters(sql):
    return {name for part in code_parts(sql) if not part.startswith("'")
            for name in re.findall(r"\$([a-z_]+)", part)}


def with_markers(sql, marker):
    """The query with each `$name` written as `marker + name`."""
    return "".join(part if part.startswith("'") else re.sub(r"\$([a-z_]+)", marker + r"\1", part)
                   for part in code_parts(sql))


def pasted(sql, params):
    return "".join(part if part.startswith("'")
                   else re.sub(r"\$([a-z_]+)", lambda m: literal(params[m.group(1)]), part)
                   for part in code_parts(sql))


def cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Ctidx:
    def __init__(self, binary, store):
        self.binary, self.store = binary, store

    def rows(self, script):
        result = subprocess.run([self.binary, "--quiet", "sql", "--store", self.store, "--format", "csv"],
                                input=script, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"ctidx sql failed: {result.stderr}\n{script}")
        return sorted("\x1f".join(row) for row in list(csv.reader(io.StringIO(result.stdout)))[1:])


class Spark:
    name = "spark"

    def __init__(self):
        from pyspark.sql import SparkSession
        import pyspark
        self.version = pyspark.__version__
        self.spark = (SparkSession.builder.master("local[2]")
                      .config("spark.ui.enabled", "false")
                      .config("spark.sql.shuffle.partitions", "4")
                      .config("spark.sql.session.timeZone", "UTC")
                      .config("spark.sql.warehouse.dir", os.path.join(os.getcwd(), "spark-warehouse"))
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")

    def run(self, sql, params=None):
        args = {k: v for k, v in (params or {}).items() if k in used_parameters(sql)}
        return self.spark.sql(with_markers(sql, ":"), args=args or None).collect()

    def rows(self, sql, params):
        return sorted("\x1f".join(cell(v) for v in row) for row in self.run(sql, params))

    def keep(self, table, sql, params):
        self.run(f"CACHE TABLE {table} AS " + sql, params)

    def forget(self, table):
        self.run(f"UNCACHE TABLE IF EXISTS {table}")
        self.run(f"DROP VIEW IF EXISTS {table}")


class DuckDB:
    name = "duckdb"

    def __init__(self):
        import duckdb
        self.version = duckdb.__version__
        self.con = duckdb.connect()

    def run(self, sql, params=None):
        args = {k: v for k, v in (params or {}).items() if k in used_parameters(sql)}
        return self.con.execute(sql, args or None).fetchall()

    def rows(self, sql, params):
        return sorted("\x1f".join(cell(v) for v in row) for row in self.run(sql, params))

    def keep(self, table, sql, params):
        self.run(f"CREATE OR REPLACE TABLE {table} AS " + sql, params)

    def forget(self, table):
        self.run(f"DROP TABLE IF EXISTS {table}")


def statements(script):
    """The DDL's statements: it is ctidx's own output, with no `;` inside a literal."""
    return [s.strip() for s in script.split(";") if s.strip()]


def query_text(name, engine):
    variant = os.path.join(SQL_DIR, f"{name}.{engine}.sql")
    path = variant if os.path.exists(variant) else os.path.join(SQL_DIR, f"{name}.sql")
    with open(path) as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--engine", choices=["spark", "duckdb"], required=True)
    ap.add_argument("--ddl", required=True, help="the output of `ctidx ddl --engine ENGINE`")
    ap.add_argument("--store", required=True)
    ap.add_argument("--ctidx", required=True)
    ap.add_argument("--start", required=True)
    ap.add_argument("--end", required=True)
    ap.add_argument("--principals", type=int, default=3, help="users and roles asked about per account")
    ap.add_argument("--depth", type=int, default=5)
    args = ap.parse_args()

    started = time.time()
    engine = Spark() if args.engine == "spark" else DuckDB()
    ctidx = Ctidx(args.ctidx, args.store)
    with open(args.ddl) as f:
        for statement in statements(f.read()):
            engine.run(statement)

    run_files, answered_files, failures, answers, rows_compared = set(), set(), [], 0, 0

    def compare(name, params, label="", steps=""):
        nonlocal answers, rows_compared
        run_files.add(name)
        sql = query_text(name, engine.name)
        theirs = engine.rows(sql, params)
        ours = ctidx.rows(steps + pasted(query_text(name, "datafusion"), params))
        answers += 1
        rows_compared += len(ours)
        if ours:
            answered_files.add(name)
        if theirs != ours:
            only = sorted(set(theirs) ^ set(ours))[:6]
            failures.append(f"{name} {label}: {engine.name} {len(theirs)} rows, ctidx {len(ours)} rows"
                            + "".join(f"\n    {'ctidx ' if r in ours else engine.name} {r!r}" for r in only))

    def keep(name, params, steps_so_far):
        """Runs a step in both engines and keeps its result as a table named after it."""
        compare(name, params, steps=steps_so_far)
        engine.keep(name, query_text(name, engine.name), params)
        return f"CREATE TABLE {name} AS " + pasted(query_text(name, "datafusion"), params) + ";\n"

    window = {"first_day": args.start, "last_day": args.end,
              "first_month": args.start[:7], "last_month": args.end[:7]}
    accounts = [r for r in ctidx.rows("SELECT DISTINCT account FROM cloudtrail")]
    compare("event_names", {})
    for name in ("all_calls", "all_requests", "daily_calls", "days_with_logs"):
        compare(name, window)
    compare("all_resources", {**window, "principal_arn": "", "max_resources": 2}, "every principal")

    steps = keep("session_events", window, "")
    steps += keep("session_links", {}, steps)

    for account in accounts:
        in_account = {**window, "account": account}
        compare("active_users", in_account, account)
        compare("active_roles", in_account, account)
        users = ctidx.rows(
            "SELECT DISTINCT useridentity.arn FROM cloudtrail WHERE useridentity.type = 'IAMUser' "
            f"AND account = {literal(account)} ORDER BY 1")[:args.principals]
        roles = ctidx.rows(
            "SELECT DISTINCT useridentity.sessioncontext.sessionissuer.arn FROM cloudtrail "
            f"WHERE useridentity.type = 'AssumedRole' AND account = {literal(account)} "
            "AND useridentity.sessioncontext.sessionissuer.type = 'Role' ORDER BY 1")[:args.principals]
        for user in users:
            compare("user_calls", {**in_account, "principal_arn": user}, user)
            compare("principal_requests", {**in_account, "principal_arn": user}, user)
            compare("all_resources", {**window, "principal_arn": user, "max_resources": 2}, user)
        for role in roles:
            compare("role_calls", {**in_account, "principal_arn": role}, role)
            compare("role_calls_by_person", {**in_account, "role_arn": role, "max_depth": args.depth}, role,
                    steps)

    # Who opened sessions in which role: the pairs the session steps are asked about.
    pairs = ctidx.rows(steps + "SELECT DISTINCT caller_arn, role_arn FROM session_events "
                       "WHERE caller_arn LIKE 'arn:aws:iam::%:user/%' AND role_arn IS NOT NULL "
                       "ORDER BY 1, 2")[:args.principals * 2]
    for pair in pairs:
        user, role = pair.split("\x1f")
        unique_id = (ctidx.rows(
            "SELECT min(split_part(useridentity.principalid, ':', 1)) FROM cloudtrail "
            f"WHERE useridentity.arn = {literal(user)}") or [""])[0]
        sessions = {"principal_arn": user, "principal_id": unique_id, "session_prefix": user + "/",
                    "max_depth": args.depth, "role_arn": role}
        person_steps = steps + keep("person_sessions", sessions, steps)
        calls = {**window, "role_arn": role, "role_account": role.split(":")[4]}
        compare("session_calls", calls, f"{user} -> {role}", person_steps)
        compare("session_requests", calls, f"{user} -> {role}", person_steps)
        engine.forget("person_sessions")
    compare("all_role_calls_by_person", {**window, "max_depth": args.depth}, "", steps)

    expected = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(SQL_DIR, "*.sql"))
                if os.path.basename(p)[:-4].rsplit(".", 1)[-1] not in ENGINE_SUFFIXES}
    missing = sorted(expected - run_files)
    if missing:
        failures.append("not run (no principal to ask about, or a new file): " + ", ".join(missing))
    empty = sorted(run_files - answered_files)
    if empty:
        failures.append("every answer was empty, so nothing was compared: " + ", ".join(empty))
    for failure in failures:
        print(failure)
    print(f"{engine.name} {engine.version}: {answers} answers ({rows_compared} rows) from "
          f"{len(run_files)} files of sql/ compared with ctidx, {len(failures)} problems, "
          f"{time.time() - started:.0f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
