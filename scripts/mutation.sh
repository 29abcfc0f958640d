#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut 3 (issue #19; tests/MUTANTS.md).
#
#   bash scripts/mutation.sh                 # every module below, one after the other
#   bash scripts/mutation.sh period guards   # only these
#   bash scripts/mutation.sh --report        # print the score table of the last runs
#   bash scripts/mutation.sh --retest guards # rerun only the mutants not killed last time
#   bash scripts/mutation.sh --sample 150 19 engine  # 150 mutants drawn with seed 19 only
#   bash scripts/mutation.sh --retest --sample 150 19 engine  # its survivors and the rest
#
# Each module runs in its own work directory build/mutation/<module>/ (kept between runs,
# so a second run only retests what changed): src/, tests/ and conftest.py are linked in,
# and pyproject.toml is the project's own plus a [tool.mutmut] section that mutates only
# that module and selects only the fast tests that target it. mutmut copies the source to
# <work>/mutants/src and puts that first on sys.path; it also drops <work>/src (which
# resolves to the editable install's src/) from sys.path, and PYTHONPATH points CLI
# subprocesses at the mutated copy, so the editable install cannot shadow the mutants.
# mutmut's own forced-fail check stops the run if the tests do not see the mutants.
#
# One worker under nice -n 19 (MUTMUT_CHILDREN=N for more, MUTATION_NICE to change it): the machine
# is shared. Not part of CI (too slow).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ ! -x .venv/bin/mutmut ]; then
  .venv/bin/python -m pip install --quiet -e '.[dev,mutation]'
fi

# NOPG in a test list leaves out the PostgreSQL cases: each mutant would start a server.
# module | files to mutate (only_mutate globs) | tests | mutant-name globs ("" = all)
#   | mutant-name globs left out (optional)
# tests/test_properties.py (random trajectories, ~30 s) is left out: it would make every
# surviving engine or guards mutant cost half a minute.
T_DATES="tests/test_period.py tests/test_month_deadlines.py tests/test_deadline_edges.py"
T_ENGINE="tests/test_engine.py tests/test_isolation.py tests/test_berlin_time.py tests/test_rules.py
  tests/test_transfer.py tests/test_workflow.py tests/test_continuation.py"
T_STORE="tests/test_store_contract.py tests/test_trust_append.py tests/test_trust_keys.py
  tests/test_erasure.py tests/test_append_edges.py NOPG"
APPEND_PATH="imflow.store._memory.xǁMemoryStoreǁappend__mutmut_*
  imflow.store._memory.xǁMemoryStoreǁ_recall__mutmut_* imflow.store._memory.xǁMemoryStoreǁrecall__mutmut_*
  imflow.store._base.x_check_batch__mutmut_* imflow.store._base.x_valid_id__mutmut_*
  imflow.store._base.x_check_key__mutmut_* imflow.store._base.x_tenant__mutmut_*
  imflow.store._base.x_batch_tenant__mutmut_* imflow.store._base.x_fingerprint__mutmut_*
  imflow.store._base.x_replay_of__mutmut_* imflow.store._base.x_conflict__mutmut_*
  imflow.engine.xǁEngineǁadmit__mutmut_* imflow.engine.xǁEngineǁ_admit__mutmut_*
  imflow.engine.xǁEngineǁ_check_erasure__mutmut_* imflow.engine.xǁEngineǁ_check_workflow__mutmut_*"
# ~3 minutes under mutmut's tracing; a survivor of the append path would cost as much
SLOW_ADMIT=test_the_memory_store_admits_only_what_the_engine_could_have_recorded
# SQL against Python on random histories (~20 s each): both sides share the counting
# rules, so they cannot kill a _tally mutant, and the oracle tests read the same random
# histories for _facts; every surviving kennzahlen mutant would pay 40 s for them
SQL_TWINS="--deselect=tests/test_kennzahlen.py::test_sql_equals_python_on_random_histories
  --deselect=tests/test_kennzahlen.py::test_sql_equals_python_on_corrupt_histories"
MODULES=(
  "period|src/imflow/period.py|$T_DATES|"
  "deadlines|src/imflow/deadlines.py|$T_DATES tests/test_deadlines.py tests/test_berlin_time.py
    tests/test_sweep_store.py NOPG|"
  "guards|src/imflow/guards.py|$T_ENGINE|"
  "erasure|src/imflow/erasure.py|tests/test_erasure.py tests/test_erasure_fields.py NOPG|"
  "kennzahlen|src/imflow/kennzahlen/_tally.py src/imflow/kennzahlen/_facts.py|tests/test_kennzahlen.py
    tests/test_kennzahlen_edges.py tests/test_kennzahlen_oracle.py tests/test_kennzahlen_transfers.py
    NOPG $SQL_TWINS|"
  "store|src/imflow/store/_base.py src/imflow/store/_memory.py src/imflow/engine.py|$T_STORE $T_ENGINE
    --deselect=tests/test_trust_append.py::$SLOW_ADMIT|$APPEND_PATH"
  "engine|src/imflow/engine.py|$T_ENGINE tests/test_trust_append.py tests/test_history.py tests/test_logging.py
    tests/test_trust_bounds.py NOPG
    --deselect=tests/test_trust_append.py::$SLOW_ADMIT||$APPEND_PATH"
)

# Tests that read the repository's files (not behaviour): they see the mutated copy, or
# miss docs/ in the work directory, and fail on the clean run.
DESELECT=(
  tests/test_month_deadlines.py::test_no_second_month_helper_anywhere
)

names_of() { for row in "${MODULES[@]}"; do echo "${row%%|*}"; done; }

toml_list() {  # words → a TOML list of strings; NOPG → -k "not postgres"
  local out="" w
  for w in "$@"; do
    if [ "$w" = NOPG ]; then out+='"-k", "not postgres", '; else out+="\"$w\", "; fi
  done
  echo "[${out%, }]"
}

prepare() {  # module files tests
  local work=build/mutation/$1
  mkdir -p "$work"
  for link in src tests conftest.py examples README.md; do
    ln -sfn "$ROOT/$link" "$work/$link"
  done
  # shellcheck disable=SC2086
  {
    cat pyproject.toml
    echo
    echo "[tool.mutmut]"
    echo "source_paths = [\"src\"]"
    echo "only_mutate = $(toml_list $2)"
    echo "also_copy = [\"conftest.py\", \"examples\", \"README.md\"]"
    # a fresh fork server per run, not mutmut's main process: that one ran the stats
    # and would hand its warm caches (period.last_day's lru_cache) to every mutant
    echo "process_isolation = \"forkserver\""
    # the fork server imports the selected test modules once (fast), except for period
    # (an import-time call would warm last_day's cache for every mutant) and engine (its
    # event factories and REBUILDABLE are built at import: in a warm fork server no
    # mutant of _factory or _rebuildable would ever be active)
    if [ "$1" = period ] || [ "$1" = engine ]; then
      echo "forkserver_warmup = \"none\""
      # a cold child imports imflow, hypothesis and the test modules first: mutmut's
      # CPU limit of 30 x (1 s + the tests' time) stopped children of mutants whose
      # few tests take 0.1 s (timeouts that were no kills; warm, they survived)
      echo "timeout_constant = 10.0"
    fi
    [ -z "${MUTATION_DEBUG:-}" ] || echo "debug = true"
    echo "pytest_add_cli_args_test_selection = $(toml_list $3)"
    echo "pytest_add_cli_args = $(toml_list "${DESELECT[@]/#/--deselect=}")"
  } >"$work/pyproject.toml.new"
  if ! cmp -s "$work/pyproject.toml.new" "$work/pyproject.toml"; then
    mv "$work/pyproject.toml.new" "$work/pyproject.toml"
  else
    rm "$work/pyproject.toml.new"
  fi
}

run_module() {  # module
  local row files tests globs
  for row in "${MODULES[@]}"; do
    [ "${row%%|*}" = "$1" ] || continue
    row=${row//$'\n'/ }
    IFS='|' read -r _ files tests globs excluded <<<"$row"
    prepare "$1" "$files" "$tests"
    if [ -n "${RETEST:-}${SAMPLE:-}" ]; then
      globs=""
      if [ -n "${RETEST:-}" ]; then  # the mutants not killed last time
        globs=$("$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_report.py" --survivors "$row")
      fi
      if [ -n "${SAMPLE:-}" ]; then  # N names drawn with a seed: those not run yet
        # shellcheck disable=SC2086
        globs+=" $("$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_report.py" --sample $SAMPLE "$row")"
      fi
      if [ -z "${globs// /}" ]; then echo "== $1: nothing to run"; return; fi
    elif [ -n "${excluded// /}" ]; then  # every mutant but the left-out ones, by name
      # shellcheck disable=SC2086
      globs=$("$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_report.py" --sample 1000000 0 "$row")
    fi
    echo "== mutmut: $1"
    # mutants/src must exist before Python starts: a sys.path entry that is missing at
    # start-up is cached as "nothing here", and the first run would then find no imflow
    # at all (mutmut drops the editable install's src/ from sys.path)
    mkdir -p "build/mutation/$1/mutants/src"
    # shellcheck disable=SC2086
    (cd "build/mutation/$1" &&
      HYPOTHESIS_PROFILE=mutation PYTHONPATH="$PWD/mutants/src" \
        nice -n "${MUTATION_NICE:-19}" "$ROOT/.venv/bin/mutmut" run --max-children "${MUTMUT_CHILDREN:-1}" $globs) ||
      { echo "!! mutmut failed for $1 (MUTATION_DEBUG=1 shows pytest's output)"; FAILED+=("$1"); }
    return
  done
  echo "unknown module: $1 (known: $(names_of | tr '\n' ' '))" >&2
  exit 2
}

report() {
  "$ROOT/.venv/bin/python" "$ROOT/scripts/mutation_report.py" "${MODULES[@]}"
}

if [ "${1:-}" = "--retest" ]; then  # after new tests: rerun the survivors only
  RETEST=1
  shift
fi
if [ "${1:-}" = "--sample" ]; then  # --sample N SEED: a seeded random sample per module
  SAMPLE="$2 $3"  # with --retest first: the survivors and the sample's mutants not run
  shift 3
fi
if [ "${1:-}" = "--report" ]; then
  report
  exit
fi
if [ $# -eq 0 ]; then
  set -- $(names_of)
fi
FAILED=()
for module in "$@"; do
  run_module "$module"
done
report
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "mutmut failed for: ${FAILED[*]}" >&2
  exit 1
fi || true
