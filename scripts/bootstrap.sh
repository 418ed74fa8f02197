#!/usr/bin/env bash
# Usage: scripts/bootstrap.sh [--dev]
#
# Brings the work tree up to date, idempotently and quickly:
#   1. .venv/  created with python3.11 if missing (or if its interpreter is broken);
#   2. Python deps: `pip install -e .` (or -e '.[dev]' with --dev), only when
#      pyproject.toml changed since the last install (stamp: .venv/.stamp-pyproject);
#   3. JVM jars: the exact jars pinned in jars/pom.xml are copied into .jars/,
#      only when jars/pom.xml changed since the last fetch (stamp: .jars/.stamp-pom);
#   4. the local file system class in jvm/ (permissions without a chmod process per
#      file) compiled against Spark's Hadoop into .jars/local/stream-cdc-localfs.jar,
#      only when its sources or Spark's Hadoop changed (stamp: .jars/local/.stamp);
#   5. with --dev: the local Kinesis server pinned in local/aws/package-lock.json,
#      installed with `npm ci` into .tools/aws/ (stamp: .tools/aws/.stamp-lock).
# Prints one short line (on stderr) per step it actually performs, nothing when all
# is up to date. Works from any current directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
JARS="$ROOT/.jars"
PYTHON_BIN="python3.11"

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { printf 'bootstrap: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

dev=0
for arg in "$@"; do
    case "$arg" in
        --dev) dev=1 ;;
        -h | --help) usage; exit 0 ;;
        *) die "unknown argument '$arg' (usage: scripts/bootstrap.sh [--dev])" ;;
    esac
done

command -v "$PYTHON_BIN" >/dev/null 2>&1 ||
    die "$PYTHON_BIN not found on PATH; install Python 3.11 (e.g. pyenv install 3.11) first"
command -v java >/dev/null 2>&1 ||
    die "java not found on PATH; install a JDK 17 (Spark 3.5 needs Java 8/11/17)"
command -v mvn >/dev/null 2>&1 ||
    die "mvn not found on PATH; install Maven 3.8+ (it fetches the jars pinned in jars/pom.xml)"

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

# Runs a command with its output kept in a log; shows the log only if it fails,
# so that a successful step prints just its one line.
run_quiet() {
    local what="$1" log rc=0
    shift
    log="$(mktemp "${TMPDIR:-/tmp}/stream-cdc-bootstrap.XXXXXX")"
    "$@" >"$log" 2>&1 || rc=$?
    if [[ $rc != 0 ]]; then
        # Strip the ANSI colour codes Maven prints even in batch mode.
        sed 's/\x1b\[[0-9;]*m//g' "$log" >&2
        rm -f "$log"
        die "$what failed (exit $rc); its output is above"
    fi
    rm -f "$log"
}

# Serialise concurrent bootstraps (e.g. several spark-submit.sh started at once).
if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/stream-cdc-bootstrap-$(printf '%s' "$ROOT" | sha256sum | cut -c1-16).lock"
    flock 9
fi

# --- 1. virtualenv ---------------------------------------------------------------
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    say "existing .venv is broken (its interpreter does not run); recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON_BIN" -c 'import sys; assert sys.version_info[:2] == (3, 11)' >/dev/null 2>&1 ||
        die "'$PYTHON_BIN' is on PATH but does not run Python 3.11 (pyenv shim without that version installed?)"
    say "creating .venv ($("$PYTHON_BIN" -c 'import platform; print(platform.python_version())'))"
    "$PYTHON_BIN" -m venv "$VENV"
fi
venv_version="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[[ "$venv_version" == "3.11" ]] ||
    die ".venv runs Python $venv_version, not 3.11; remove .venv and run this again"

# --- 2. Python dependencies --------------------------------------------------------
# Stamp line: "<sha256 of pyproject.toml> <dev|runtime>". A dev install also
# satisfies a runtime request, so spark-submit.sh never downgrades a dev setup.
py_stamp="$VENV/.stamp-pyproject"
py_hash="$(hash_of "$ROOT/pyproject.toml")"
want_mode=runtime
[[ $dev == 1 ]] && want_mode=dev
have_hash="" have_mode=""
if [[ -f "$py_stamp" ]]; then read -r have_hash have_mode <"$py_stamp" || true; fi
if [[ "$have_hash" != "$py_hash" || ("$want_mode" == dev && "$have_mode" != dev) ]]; then
    target="$ROOT"
    [[ $want_mode == dev ]] && target="${ROOT}[dev]"
    say "installing Python deps (pip install -e '.$([[ $want_mode == dev ]] && echo '[dev]')')"
    rm -f "$py_stamp"
    run_quiet "pip install" \
        "$VENV/bin/python" -m pip install --disable-pip-version-check -e "$target"
    printf '%s %s\n' "$py_hash" "$want_mode" >"$py_stamp"
fi

# --- 3. JVM jars ---------------------------------------------------------------------
jar_stamp="$JARS/.stamp-pom"
pom_hash="$(hash_of "$ROOT/jars/pom.xml")"
have_pom_hash="$(cat "$jar_stamp" 2>/dev/null || true)"
if [[ "$have_pom_hash" != "$pom_hash" ]] || ! compgen -G "$JARS/*.jar" >/dev/null; then
    say "fetching jars pinned in jars/pom.xml into .jars/ (mvn)"
    tmp="$ROOT/.jars.tmp.$$"
    rm -rf "$tmp"
    trap 'rm -rf "$tmp"' EXIT
    # -DexcludeTransitive: only the pinned jars; their own dependencies are in pyspark/jars.
    run_quiet "mvn (fetching the jars pinned in jars/pom.xml)" \
        mvn -B -Dstyle.color=never --no-transfer-progress \
        -f "$ROOT/jars/pom.xml" \
        dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DexcludeTransitive=true -DincludeScope=runtime
    compgen -G "$tmp/*.jar" >/dev/null || die "mvn ran but copied no jar into .jars/"
    printf '%s\n' "$pom_hash" >"$tmp/.stamp-pom"
    rm -rf "$JARS"
    mv "$tmp" "$JARS"
    trap - EXIT
fi

# --- 4. the local file system class ---------------------------------------------------
# Compiled here rather than fetched: it is ours, and it must match the Hadoop client that
# pyspark ships (hadoop-client-api-*.jar). Only local runs put it on the class path
# (spark-submit.sh, runtime/session.py); docs/engines.md, *Local disks*, says why.
LOCAL_FS="$JARS/local"
hadoop_api="$(compgen -G "$VENV/lib/python3.11/site-packages/pyspark/jars/hadoop-client-api-*.jar" | head -n 1 || true)"
[[ -n "$hadoop_api" ]] || die "no hadoop-client-api jar in the venv's pyspark (is pyspark installed?)"
fs_hash="$( { cat "$ROOT"/jvm/src/streamcdc/localfs/*.java; basename "$hadoop_api"; } | sha256sum | cut -d' ' -f1)"
if ! command -v javac >/dev/null 2>&1 || ! command -v jar >/dev/null 2>&1; then
    # A JRE only: runs work, with Hadoop's own (slower) local file system.
    [[ -f "$LOCAL_FS/stream-cdc-localfs.jar" ]] ||
        say "no javac on PATH: jvm/ not compiled, local runs use Hadoop's local file system (install a JDK 17 for the faster one)"
elif [[ "$(cat "$LOCAL_FS/.stamp" 2>/dev/null || true)" != "$fs_hash" || ! -f "$LOCAL_FS/stream-cdc-localfs.jar" ]]; then
    say "compiling jvm/ into .jars/local/stream-cdc-localfs.jar (javac)"
    build="$ROOT/.jars.localfs.$$"
    rm -rf "$build"
    trap 'rm -rf "$build"' EXIT
    mkdir -p "$build/classes"
    run_quiet "javac (jvm/)" \
        javac --release 8 -nowarn -d "$build/classes" -cp "$hadoop_api" \
        "$ROOT"/jvm/src/streamcdc/localfs/*.java
    run_quiet "jar (jvm/)" jar cf "$build/stream-cdc-localfs.jar" -C "$build/classes" .
    rm -rf "$LOCAL_FS"
    mkdir -p "$LOCAL_FS"
    mv "$build/stream-cdc-localfs.jar" "$LOCAL_FS/"
    printf '%s\n' "$fs_hash" >"$LOCAL_FS/.stamp"
    rm -rf "$build"
    trap - EXIT
fi

# --- 5. local AWS-API servers from npm (tests and the local Kinesis pipeline) ----------
if [[ $dev == 1 ]]; then
    command -v npm >/dev/null 2>&1 ||
        die "npm not found on PATH; scripts/install-system-deps.sh installs Node.js and npm"
    TOOLS="$ROOT/.tools/aws"
    npm_stamp="$TOOLS/.stamp-lock"
    lock_hash="$(hash_of "$ROOT/local/aws/package-lock.json")"
    if [[ "$(cat "$npm_stamp" 2>/dev/null || true)" != "$lock_hash" ]]; then
        say "installing the local Kinesis server pinned in local/aws/package-lock.json (npm ci)"
        rm -rf "$TOOLS"
        mkdir -p "$TOOLS"
        cp "$ROOT/local/aws/package.json" "$ROOT/local/aws/package-lock.json" "$TOOLS/"
        run_quiet "npm ci" npm ci --prefix "$TOOLS" --no-audit --no-fund --ignore-scripts
        printf '%s\n' "$lock_hash" >"$npm_stamp"
    fi
fi
