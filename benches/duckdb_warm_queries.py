#!/usr/bin/env python3
"""DuckDB's in-process query times on its own Parquet, warmed, for the in-process comparison.

Usage:
  python3 benches/duckdb_warm_queries.py ANCHOR_JSON --anchor PATH/duckdb_anchor.py [--runs 30]

ANCHOR_JSON is what the DuckDB yardstick script wrote (its Parquet folder and query parameters).
The yardstick times each query 3 times, the first on a cold connection; on a one-day query that
first run weighs on the median (6.6 ms against 4.6 ms warmed on 5M events). This runs each of the
yardstick's queries (but the session join) once to warm up, then --runs times on one connection
with 2 threads, and prints the median and minimum in ms. Run it beside `cargo bench --bench store`
(CTIDX_BENCH_SKIP_INGEST=1, the same targets), alternating, for same-session ratios.
"""
import argparse
import importlib.util
import json
import statistics
import time

import duckdb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("anchor_json")
    parser.add_argument("--anchor", required=True, help="the DuckDB yardstick script")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    spec = importlib.util.spec_from_file_location("duckdb_anchor", args.anchor)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    written = json.load(open(args.anchor_json))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(anchor.PARQUET_VIEW_SQL.format(out=written["out"]))
    for name, _description, sql in anchor.QUERIES:
        if name.startswith("q5"):
            continue
        query = sql.format(**written["query_params"])
        con.execute(query).fetchall()
        times = []
        for _ in range(max(args.runs, 1)):
            started = time.perf_counter()
            con.execute(query).fetchall()
            times.append(time.perf_counter() - started)
        print(f"| {name} | {statistics.median(times) * 1000:.1f} | {min(times) * 1000:.1f} |")


if __name__ == "__main__":
    main()
