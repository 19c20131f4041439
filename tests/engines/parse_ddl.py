#!/usr/bin/env python3
"""Parses a table definition of `ctidx ddl` with sqlglot in an engine's dialect, and prints each
column of its CREATE statement as `name type`, in the engine's spelling, one per line.

  parse_ddl.py --dialect trino|athena|spark|duckdb FILE

Exits with 1 when a statement does not parse or no CREATE statement defines columns.
"""

import argparse
import sys

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, ParseError


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialect", required=True)
    ap.add_argument("file")
    args = ap.parse_args()
    with open(args.file) as f:
        text = f.read()
    try:
        statements = sqlglot.parse(text, read=args.dialect, error_level=ErrorLevel.RAISE)
    except ParseError as e:
        sys.exit(f"{args.file} does not parse as {args.dialect}: {e}")
    creates = [s for s in statements if isinstance(s, exp.Create) and isinstance(s.this, exp.Schema)]
    if not creates:
        sys.exit(f"{args.file}: no CREATE statement with columns")
    for column in creates[0].this.expressions:
        if isinstance(column, exp.ColumnDef):
            print(column.name, column.args["kind"].sql(dialect=args.dialect))


if __name__ == "__main__":
    main()
