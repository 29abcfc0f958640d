#!/usr/bin/env bash
# The main job, from a fresh machine: install imflow, simulate a seeded cohort of 10,000
# cases over four years into the default SQLite store (imflow.db), then print the yearly
# key-figure report (Kennzahlen) for 2026 with its plausibility checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

DB=${IMFLOW_DB:-imflow.db}
STAFFING=${IMFLOW_STAFFING:-staffing.csv}
rm -f "$DB" "$DB-wal" "$DB-shm"

.venv/bin/imflow simulate --cases 10000 --seed 1 --from 2023-01-01 --until 2026-12-31 \
  --db "$DB" --staffing "$STAFFING"

# exit code 1 means the report was made and has plausibility findings (printed first)
status=0
.venv/bin/imflow report --year 2026 --db "$DB" --staffing "$STAFFING" || status=$?
[ "$status" -le 1 ] || exit "$status"
