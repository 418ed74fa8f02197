#!/usr/bin/env bash
# Usage: scripts/test.sh [pytest args ...]
#
# The project's one test command (also what CI runs). From any directory:
#   1. runs scripts/install-system-deps.sh if that file exists (Debian packages
#      the suite needs);
#   2. runs scripts/bootstrap.sh --dev (venv, Python deps incl. dev, jars);
#   3. runs `.venv/bin/python -m pytest [args]` from the repo root, with the
#      environment of scripts/env.sh: STREAM_CDC_JARS (comma-separated .jars/*.jar,
#      for spark.jars), STREAM_CDC_ROOT, STREAM_CDC_LOG4J2, PYTHONPATH=<repo root>,
#      PYSPARK_PYTHON / PYSPARK_DRIVER_PYTHON = the venv's python, SPARK_HOME.
# Paths given in pytest args are relative to the repo root.
# Pytest's exit code 5 (no tests collected) is a failure here.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -f "$ROOT/scripts/install-system-deps.sh" ]]; then
    bash "$ROOT/scripts/install-system-deps.sh"
fi

bash "$ROOT/scripts/bootstrap.sh" --dev

# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
if [[ -z "$STREAM_CDC_JARS" ]]; then
    echo "test.sh: error: no jar in .jars/ after bootstrap" >&2
    exit 1
fi
# Tests run Spark in local mode: bind it to loopback unless told otherwise.
export SPARK_LOCAL_IP="${SPARK_LOCAL_IP:-127.0.0.1}"
# Every JVM the tests start (the session's, each spark-submit's) lives minutes on tiny
# data: compiling only with the JIT's first tier saves more than it costs (measured on
# the demo and contract tests: 12-17 % less time). Jobs users run keep the JVM defaults.
export SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseParallelGC}"
# ... and maps the classes Spark, Delta and the job load from a class-data archive, built
# once per JVM and jars (scripts/jvm_archive.sh; STREAM_CDC_JVM_ARCHIVE=0 goes without).
if [[ "${STREAM_CDC_JVM_ARCHIVE:-1}" != 0 ]]; then
    SPARK_SUBMIT_OPTS="$SPARK_SUBMIT_OPTS $(bash "$ROOT/scripts/jvm_archive.sh")"
fi

cd "$ROOT"

# Arguments that choose tests (a path, -m, -k, --lf) or workers (-n): one pytest run, as
# asked. Otherwise the whole suite in two tiers: the tests that need no fixed port on
# STREAM_CDC_TEST_WORKERS workers (pytest-xdist; 2 by default, 1 for none), then the local
# stack's tests (fixed ports, a latency goal) one at a time, alone on the machine.
chooses=0
for arg in "$@"; do
    case "$arg" in
        -m | -m* | -k | -k* | --lf | --last-failed | -n | -n* | --numprocesses*) chooses=1 ;;
        -*) ;;
        *) chooses=1 ;;
    esac
done

pytest_run() {
    local code=0
    "$ROOT/.venv/bin/python" -m pytest "$@" || code=$?
    if [[ $code == 5 ]]; then
        echo "test.sh: error: pytest collected no tests (exit code 5); counting that as a failure" >&2
    fi
    return "$code"
}

if [[ $chooses == 1 ]]; then
    rc=0
    pytest_run "$@" || rc=$?
    exit "$rc"
fi

workers="${STREAM_CDC_TEST_WORKERS:-2}"
parallel=()
if [[ "$workers" != 1 ]]; then
    parallel=(-n "$workers")
fi
rc=0
# What the stack's servers need (Debian packages, Kafka's and Debezium's jars) is mostly
# download and unpacking: it is installed while tier 1 runs, not at the start of tier 2.
mkdir -p "$ROOT/work"
"$ROOT/local/stack" install >"$ROOT/work/stack-install.log" 2>&1 &
installing=$!
echo "test.sh: tier 1 of 2: every test but the local stack's (${workers} worker(s))"
pytest_run -m "not stack and not serial" "${parallel[@]}" "$@" || rc=$?
if ! wait "$installing"; then
    echo "test.sh: local/stack install failed (work/stack-install.log); tier 2 tries again" >&2
fi
echo "test.sh: tier 2 of 2: the local stack's tests and those marked serial, one at a time"
pytest_run -m "stack or serial" "$@" || rc=$?
exit "$rc"
