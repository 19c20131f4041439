#!/usr/bin/env python3
"""ctidx against DuckDB on the same synthetic CloudTrail tree, in one run.

Usage:
  python3 benches/store_vs_duckdb.py DIR --anchor PATH/duckdb_anchor.py [--ctidx BIN] [--store PATH]
        [--anchor-json FILE] [--runs 5] [--ingest-runs 3] [--in-process]

DIR is a tree written by the synthetic generator (DIR/AWSLogs/..., DIR/bench_meta.json).
--anchor names the DuckDB yardstick script (or set CTIDX_DUCKDB_ANCHOR); it is run first, unless
--anchor-json gives the JSON it wrote earlier. Then, with the same query parameters:
  * `ctidx ingest --full` into --store (default DIR.ctidx-store), --ingest-runs times (default 3):
    median wall time, events/s, MB/s of JSON, the largest peak RSS of those processes (wait4),
    Parquet bytes;
  * every query as a whole `ctidx sql` process (min and median of --runs runs after one warm-up), and
    a process that runs `SELECT 1` only, so that the difference estimates the query alone;
  * DuckDB as a whole process (Python, duckdb, its Parquet) for the one-user query;
  * with --in-process, `cargo bench --bench store` on that store (library calls, one session): the
    median time of each query over 15 runs (CTIDX_BENCH_RUNS to change).
Prints one table, each ctidx number beside DuckDB's and their ratio (ctidx / DuckDB).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# DuckDB's query ids -> (bench name, ctidx SQL). Same filters as the yardstick's; `eventtime` is
# ISO-8601 text in ctidx, so its range is a string range, and `day` is text.
QUERIES = [
    ("q1_users_in_range", "users_in_range", """
SELECT DISTINCT useridentity.username FROM cloudtrail
WHERE account = '{acct}' AND day >= '{d0}' AND day <= '{d1_incl}'
  AND eventtime >= '{t0}' AND eventtime < '{t1}' AND errorcode IS NULL"""),
    ("q2_roles_in_range", "roles_in_range", """
SELECT DISTINCT useridentity.sessioncontext.sessionissuer.username FROM cloudtrail
WHERE account = '{acct}' AND day >= '{d0}' AND day <= '{d1_incl}'
  AND eventtime >= '{t0}' AND eventtime < '{t1}' AND errorcode IS NULL"""),
    ("q3_user_actions", "user_actions", """
SELECT DISTINCT eventsource, eventname FROM cloudtrail
WHERE account = '{acct}' AND useridentity.arn = '{user_arn}' AND errorcode IS NULL"""),
    ("q4_role_actions", "role_actions", """
SELECT DISTINCT eventsource, eventname FROM cloudtrail
WHERE account = '{acct}' AND useridentity.sessioncontext.sessionissuer.arn = '{role_arn}'
  AND errorcode IS NULL"""),
    ("q6_top_events_day", "top_events_day", """
SELECT eventname, count(*) AS n FROM cloudtrail
WHERE account = '{acct}' AND day = '{day}'
GROUP BY eventname ORDER BY n DESC, eventname LIMIT 10"""),
]


def parquet_bytes(root, summaries=True):
    """The bytes of the Parquet files under root; without summaries, those under `_ctidx` (the
    activity summaries and session openings ctidx writes beside each data file) left out."""
    total = 0
    for base, dirs, files in os.walk(root):
        if not summaries and "_ctidx" in dirs:
            dirs.remove("_ctidx")
        total += sum(os.path.getsize(os.path.join(base, f)) for f in files
                     if f.endswith(".parquet") and not f.startswith("."))
    return total


def run_anchor(anchor, d, json_out):
    subprocess.run([sys.executable, anchor, d, "--json-out", json_out], check=True)
    with open(json_out) as fh:
        return json.load(fh)


def time_process(cmd, runs):
    """Min and median wall time of `cmd` over `runs` runs after one warm-up; also its output."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times), out


def in_process_times(store, params, user_arn, role_arn):
    env = dict(os.environ, CTIDX_BENCH_DIR=store, CTIDX_BENCH_STORE=store, CTIDX_BENCH_SKIP_INGEST="1",
               CTIDX_BENCH_ACCOUNT=params["acct"], CTIDX_BENCH_USER_ARN=user_arn,
               CTIDX_BENCH_ROLE_ARN=role_arn, CTIDX_BENCH_FROM=params["t0"],
               CTIDX_BENCH_TO=params["t1"], CTIDX_BENCH_DAY=params["day"])
    # Medians of 5 runs of a 10 ms query move by a fifth from one comparison to the next.
    env.setdefault("CTIDX_BENCH_RUNS", "15")
    out = subprocess.run(["cargo", "bench", "--bench", "store"], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    print(out, flush=True)
    times = {}
    for line in out.splitlines():
        m = re.match(r"\|\s*(\w+)\s*\|\s*(\d+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|\s*([\d.]+)\s*\|", line)
        if m:
            times[m.group(1)] = (int(m.group(2)), float(m.group(5)) / 1e3)
    return times


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "n/a"


def main():
    ap = argparse.ArgumentParser(description="ctidx vs DuckDB on one synthetic CloudTrail tree")
    ap.add_argument("dir")
    ap.add_argument("--anchor", default=os.environ.get("CTIDX_DUCKDB_ANCHOR"),
                    help="path of duckdb_anchor.py (or CTIDX_DUCKDB_ANCHOR)")
    ap.add_argument("--anchor-json", help="reuse this yardstick JSON instead of running it")
    ap.add_argument("--ctidx", default=shutil.which("ctidx") or os.path.join(REPO, "target/release/ctidx"))
    ap.add_argument("--store", help="store to write (default: DIR.ctidx-store)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ingest-runs", type=int, default=3,
                    help="ctidx ingest runs (each --full); the median time and the largest peak are reported")
    ap.add_argument("--in-process", action="store_true", help="also run `cargo bench --bench store`")
    a = ap.parse_args()
    d = os.path.abspath(a.dir)
    store = os.path.abspath(a.store or d.rstrip("/") + ".ctidx-store")

    if a.anchor_json:
        with open(a.anchor_json) as fh:
            anchor = json.load(fh)
    else:
        if not a.anchor:
            sys.exit("name the DuckDB yardstick with --anchor or CTIDX_DUCKDB_ANCHOR, or pass --anchor-json")
        anchor = run_anchor(a.anchor, d, d.rstrip("/") + ".anchor.json")
    targets = anchor["targets"]
    # ctidx keeps eventTime as the ISO-8601 text CloudTrail writes: compare with the same form
    params = dict(anchor["query_params"], t0=targets["time_range"][0], t1=targets["time_range"][1])
    events, raw_bytes, gz_bytes = anchor["events"], anchor["raw_bytes"], anchor["gz_bytes"]
    dk_ingest = anchor["ingest"]
    dk_query = {q["query"]: q for q in anchor["queries"] if q["layout"] == "parquet"}

    # ------------------------------------------------------------------ ingest
    if os.path.exists(store):
        shutil.rmtree(store)
    cmd = [a.ctidx, "ingest", "--quiet", "--full", "--source", os.path.join(d, "AWSLogs"), "--store", store]
    # One ingest run varies by a fifth from the next on a shared machine: the median of several.
    times, peaks = [], []
    for _ in range(a.ingest_runs):
        t = time.perf_counter()
        child = subprocess.Popen(cmd)
        _pid, status, usage = os.wait4(child.pid, 0)  # this child's own peak RSS, not the yardstick's
        times.append(time.perf_counter() - t)
        peaks.append(usage.ru_maxrss / 1024.0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"ctidx ingest failed with status {os.waitstatus_to_exitcode(status)}")
    t_ingest = statistics.median(times)
    rss = max(peaks)
    print("ctidx ingest runs: " + "  ".join(f"{t:.2f} s" for t in times), flush=True)
    pq = parquet_bytes(store)
    pq_data = parquet_bytes(store, summaries=False)
    print(f"ctidx ingest {t_ingest:.2f} s  {events / t_ingest:,.0f} events/s  "
          f"{raw_bytes / t_ingest / 1e6:.1f} MB/s JSON  parquet {pq / 1e6:.1f} MB  peak RSS {rss:.0f} MiB",
          flush=True)

    # ------------------------------------------------------------------ queries (whole process)
    # A process that only opens the store: its time, taken off a query's, estimates the query alone.
    base_min, base_med, _ = time_process([a.ctidx, "sql", "--store", store, "--format", "csv", "SELECT 1"],
                                         a.runs)
    print(f"ctidx sql {'SELECT 1':16s} min {base_min:.3f} s  median {base_med:.3f} s", flush=True)
    process = {}
    for qid, name, sql in QUERIES:
        text = sql.format(**params)
        mn, med, out = time_process([a.ctidx, "sql", "--store", store, "--format", "csv", text], a.runs)
        n = max(0, len([l for l in out.splitlines() if l.strip()]) - 1)
        process[name] = (mn, med, n)
        print(f"ctidx sql {name:16s} min {mn:.3f} s  median {med:.3f} s  rows {n}", flush=True)

    # DuckDB as a whole process for the one-user query: start Python, open DuckDB, query its Parquet.
    dk_script = (
        "import sys, duckdb\n"
        "con = duckdb.connect()\n"
        "con.execute(sys.argv[1])\n"
        "print(len(con.execute(sys.argv[2]).fetchall()))\n")
    dk_view = ("CREATE VIEW ct AS SELECT * FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true, "
               "hive_types = {{account: VARCHAR, event_date: DATE}})").format(out=anchor["out"])
    dk_q3 = ("SELECT DISTINCT eventSource, eventName FROM ct WHERE account = '{acct}' "
             "AND userIdentity.arn = '{user_arn}' AND errorCode IS NULL").format(**params)
    dk_whole = None
    if os.path.isdir(anchor["out"]):
        dk_whole = time_process([sys.executable, "-c", dk_script, dk_view, dk_q3], a.runs)
        print(f"duckdb whole process user_actions min {dk_whole[0]:.3f} s  median {dk_whole[1]:.3f} s", flush=True)

    inproc = in_process_times(store, params, targets["user_arn"], targets["role_arn"]) if a.in_process else {}

    # ------------------------------------------------------------------ table
    print()
    print(f"input: {events} events, {anchor['files']} files, {gz_bytes / 1e6:.1f} MB gzip, "
          f"{raw_bytes / 1e6:.1f} MB JSON; DuckDB {anchor['duckdb_version']}, {anchor['nproc']} CPUs")
    print("| measure | DuckDB | ctidx | ctidx/DuckDB | better |")
    print("|---|---:|---:|---:|---|")
    dk_t = dk_ingest["seconds"]
    print(f"| ingest wall s | {dk_t:.2f} | {t_ingest:.2f} | {ratio(t_ingest, dk_t)} | lower |")
    print(f"| ingest events/s | {events / dk_t:,.0f} | {events / t_ingest:,.0f} | "
          f"{ratio(dk_t, t_ingest)} | higher |")
    print(f"| ingest MB/s JSON | {raw_bytes / dk_t / 1e6:.1f} | {raw_bytes / t_ingest / 1e6:.1f} | "
          f"{ratio(dk_t, t_ingest)} | higher |")
    dk_rss = dk_ingest.get("maxrss_mib_after")
    print(f"| ingest peak RSS MiB (DuckDB: whole Python process) | {dk_rss:.0f} | {rss:.0f} | "
          f"{ratio(rss, dk_rss)} | lower |")
    dk_pq = dk_ingest["parquet_bytes"]
    print(f"| Parquet MB | {dk_pq / 1e6:.1f} | {pq / 1e6:.1f} | {ratio(pq, dk_pq)} | lower |")
    print(f"| Parquet MB, data files only (ctidx: no summaries) | {dk_pq / 1e6:.1f} | {pq_data / 1e6:.1f} "
          f"| {ratio(pq_data, dk_pq)} | lower |")
    print(f"| Parquet / gzip input | {dk_pq / gz_bytes:.3f} | {pq / gz_bytes:.3f} | | lower |")
    print(f"| ctidx process that only opens the store, median s | | {base_med:.3f} | | lower |")
    for qid, name, _sql in QUERIES:
        dk = dk_query.get(qid)
        dk_med = dk["median"] if dk else None
        dk_rows = dk["rows"] if dk else None
        mn, med, n = process[name]
        mark = "" if dk_rows is None or dk_rows == n else f" (rows {n} vs {dk_rows}!)"
        if name in inproc:
            label, t_in = "in-process (library bench)", inproc[name][1]
        else:
            label, t_in = "in-process (est.: process minus store-open process)", max(0.0, med - base_med)
        print(f"| {name}{mark} {label}, median s | {dk_med:.3f} | {t_in:.3f} | {ratio(t_in, dk_med)} | lower |")
    if dk_whole:
        print(f"| user_actions whole process, median s (DuckDB: Python + duckdb) | {dk_whole[1]:.3f} | "
              f"{process['user_actions'][1]:.3f} | {ratio(process['user_actions'][1], dk_whole[1])} | lower |")


if __name__ == "__main__":
    main()
