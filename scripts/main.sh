#!/usr/bin/env bash
# The main job, from a fresh machine: install imflow with its report outputs, simulate a
# seeded cohort of 10,000 cases over four years into the default SQLite store (imflow.db),
# then make the yearly key-figure report (Kennzahlen) for 2026 and show what a person
# wants first: the state's headline figures beside last year's, the plausibility
# findings, the districts with the highest and the lowest share of plans within three
# months, and the files written for the submission and the committee:
#   kennzahlen-2026.xlsx  workbook for the granting authority (findings first)
#   kennzahlen-2026.html  committee report with charts (self-contained, printable)
#   kennzahlen-2026.csv   the same figures for any spreadsheet
#   kennzahlen-2026.json  for merging reports (imflow.kennzahlen.from_json)
#
#   scripts/main.sh --full   also prints the full per-district text report
#
# Settings (environment): IMFLOW_CASES (10000), IMFLOW_DB (imflow.db), IMFLOW_STAFFING
# (staffing.csv), IMFLOW_OUT (folder of the report files, .), IMFLOW_INSTALL=0 to use the
# Python in IMFLOW_PYTHON (default .venv/bin/python) as it is, without pip.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=0
for arg in "$@"; do
  case "$arg" in
    --full) FULL=1 ;;
    *) echo "usage: scripts/main.sh [--full]" >&2; exit 2 ;;
  esac
done

if [ "${IMFLOW_INSTALL:-1}" != 0 ]; then
  PYTHON=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[reports]'
fi
PY=${IMFLOW_PYTHON:-.venv/bin/python}
imflow() { "$PY" -m imflow "$@"; }

CASES=${IMFLOW_CASES:-10000}
DB=${IMFLOW_DB:-imflow.db}
STAFFING=${IMFLOW_STAFFING:-staffing.csv}
OUT=${IMFLOW_OUT:-.}
YEAR=2026
mkdir -p "$OUT"
rm -f "$DB" "$DB-wal" "$DB-shm"

# the progress bar shows on a terminal only; of the simulation's summary, its first line
simulated=$(imflow simulate --cases "$CASES" --seed 1 --from 2023-01-01 --until 2026-12-31 \
  --db "$DB" --staffing "$STAFFING")
printf '%s\n\n' "${simulated%%$'\n'*}"

# exit code 1 means the report was made and has plausibility findings (the summary says so)
status=0
imflow report --year "$YEAR" --db "$DB" --staffing "$STAFFING" \
  -o "$OUT/kennzahlen-$YEAR.xlsx" -o "$OUT/kennzahlen-$YEAR.html" \
  -o "$OUT/kennzahlen-$YEAR.csv" -o "$OUT/kennzahlen-$YEAR.json" || status=$?
[ "$status" -le 1 ] || exit "$status"

if [ "$FULL" = 1 ]; then
  echo
  imflow report --year "$YEAR" --db "$DB" --staffing "$STAFFING" || [ $? -le 1 ]
fi
