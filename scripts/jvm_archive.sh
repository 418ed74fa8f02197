#!/usr/bin/env bash
# Usage: scripts/jvm_archive.sh   (with scripts/env.sh's environment; used by scripts/test.sh)
#
# Prints the JVM options that map a class-data archive (Java's AppCDS) of the classes
# Spark, Delta and the job load at start-up, building the archive first when it is
# missing or stale; prints nothing when this JVM cannot build one. Every JVM the tests
# start (pytest's sessions, each spark-submit of the job) parses and verifies some
# twenty thousand classes; mapped from the archive they cost about a third less CPU
# (docs/testing.md, *Time*). A JVM whose class path does not match the archive ignores
# it, silently. The archive is kept in work/jvm/ (git-ignored), named by what it
# depends on: the JVM, Spark's jars, the pinned jars, the local file system's jar and the
# warm-up script.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/work/jvm"
QUIET="-Xlog:cds=off -Xlog:cds+dynamic=off"

key="$( {
    java -version 2>&1
    ls -l "$SPARK_HOME/jars"
    echo "$STREAM_CDC_JARS"
    [[ -z "${STREAM_CDC_LOCAL_FS_JAR:-}" ]] || ls -l --time-style=full-iso "$STREAM_CDC_LOCAL_FS_JAR"
    cat "$ROOT/scripts/jvm_warmup.py"
    echo "${SPARK_SUBMIT_OPTS:-}"
} | sha256sum | cut -c1-16)"
archive="$DIR/spark-$key.jsa"

if [[ ! -f "$archive" ]]; then
    mkdir -p "$DIR"
    # Older archives go; a partial one only when it is old (another run may be building it).
    find "$DIR" -maxdepth 1 -name 'spark-*.jsa' ! -name "spark-$key.jsa" -delete
    find "$DIR" -maxdepth 1 -name '*.partial' -mmin +60 -delete
    partial="$archive.$$.partial"
    log="$DIR/warmup-$$.log"
    echo "jvm_archive.sh: building the JVM class archive (once per JVM and jars)" >&2
    if SPARK_SUBMIT_OPTS="${SPARK_SUBMIT_OPTS:-} -XX:ArchiveClassesAtExit=$partial $QUIET" \
        timeout 900 "$ROOT/spark-submit.sh" "$ROOT/scripts/jvm_warmup.py" >"$log" 2>&1 \
        && [[ -s "$partial" ]]; then
        mv "$partial" "$archive"
        rm -f "$log"
    else
        rm -f "$partial"
        echo "jvm_archive.sh: no archive (see work/jvm/${log##*/}); the JVMs start without one" >&2
        exit 0
    fi
fi
echo "-XX:SharedArchiveFile=$archive $QUIET"
