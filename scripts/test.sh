#!/usr/bin/env bash
# Usage: scripts/test.sh [pytest args ...]
#
# The project's one test command (also what CI runs). From any directory:
#   1. runs scripts/install-system-deps.sh if that file exists (Debian packages
#      the suite needs);
#   2. runs scripts/bootstrap.sh --dev (venv, Python deps incl. dev, jars);
#   3. runs `.venv/bin/python -m pytest [args]` from the repo root (default: the
#      whole suite, per [tool.pytest.ini_options] in pyproject.toml), with the
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

cd "$ROOT"
rc=0
"$ROOT/.venv/bin/python" -m pytest "$@" || rc=$?
if [[ $rc == 5 ]]; then
    echo "test.sh: error: pytest collected no tests (exit code 5); counting that as a failure" >&2
fi
exit "$rc"
