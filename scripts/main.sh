#!/usr/bin/env bash
# The main job, from a fresh machine: install imflow, simulate a seeded cohort of cases
# into the default SQLite store, then print the key-figure report for one year.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet -e .

DB=${IMFLOW_DB:-imflow.db}
rm -f "$DB" "$DB-wal" "$DB-shm"
.venv/bin/python examples/quickstart.py
