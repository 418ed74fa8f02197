#!/usr/bin/env bash
# Usage: ./spark-submit.sh [--master URL] [other spark-submit options ...] [APP.py [app args ...]]
#
# Runs a PySpark application of this repo with the venv's spark-submit (pyspark 3.5.4):
#   --master          from --master, else $SPARK_MASTER, else local[2]
#   --jars            every jar in .jars/ (pinned in jars/pom.xml), plus any --jars given
#   --py-files        work/dist/stream_cdc.zip (the project's packages), plus any --py-files given
#   --conf            Delta's and Iceberg's SQL extensions, Delta's catalog (a --conf given here overrides them)
#   --driver-java-options  log4j2 configured by conf/log4j2.properties, and HotSpot told to
#                     compile long methods too (-XX:-DontCompileHugeMethods, runtime/session.py
#                     JVM_OPTIONS), plus any given here; the executors get the same option
#                     (spark.executor.extraJavaOptions; a --conf of it given here wins)
#   local file system  with --master local or local[N]: Hadoop's local file system with
#                     permissions set in-process, not by a chmod process per file (jvm/,
#                     runtime/session.py LOCAL_FS), its jar first on --driver-class-path;
#                     STREAM_CDC_LOCAL_FS=0 turns it off
#   scratch           Spark's local dirs and the JVM's and Python's temp dirs in a folder of
#                     this run, work/scratch/run-* under the current directory (or under
#                     $STREAM_CDC_SCRATCH), not the system temp dir; what a dead run left
#                     there is removed at the next start (a run holds a lock while alive)
# Without APP.py, runs jobs/stream_cdc.py. Options before APP.py go to spark-submit,
# arguments after it go to the application. Runs scripts/bootstrap.sh first (runtime
# deps only). Works from any directory and keeps the caller's current directory, so
# relative paths in configs and arguments are relative to where you run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEFAULT_APP="jobs/stream_cdc.py"

die() { printf 'spark-submit.sh: error: %s\n' "$*" >&2; exit 2; }

bash "$ROOT/scripts/bootstrap.sh"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"

# --- split the arguments: spark-submit options | APP.py | app args --------------
master="${SPARK_MASTER:-local[2]}"
user_jars=""
user_py_files=""
user_java_opts=""
user_driver_cp=""
spark_opts=()
app=""
no_app_needed=0
while (($# > 0)); do
    case "$1" in
        --master) (($# >= 2)) || die "--master needs a value"; master="$2"; shift 2 ;;
        --master=*) master="${1#*=}"; shift ;;
        --jars) (($# >= 2)) || die "--jars needs a value"; user_jars="$2"; shift 2 ;;
        --jars=*) user_jars="${1#*=}"; shift ;;
        --py-files) (($# >= 2)) || die "--py-files needs a value"; user_py_files="$2"; shift 2 ;;
        --py-files=*) user_py_files="${1#*=}"; shift ;;
        --driver-class-path) (($# >= 2)) || die "--driver-class-path needs a value"
            user_driver_cp="$2"; shift 2 ;;
        --driver-class-path=*) user_driver_cp="${1#*=}"; shift ;;
        --driver-java-options) (($# >= 2)) || die "--driver-java-options needs a value"
            user_java_opts="$2"; shift 2 ;;
        --driver-java-options=*) user_java_opts="${1#*=}"; shift ;;
        # spark-submit's options that take no value.
        -h | --help | --version | --usage-error)
            no_app_needed=1; spark_opts+=("$1"); shift ;;
        -v | --verbose | --supervise) spark_opts+=("$1"); shift ;;
        --*=*) spark_opts+=("$1"); shift ;;
        # Every other spark-submit option takes one value.
        -*) (($# >= 2)) || die "$1 needs a value"; spark_opts+=("$1" "$2"); shift 2 ;;
        *) app="$1"; shift; break ;;
    esac
done
if [[ -z "$app" && $no_app_needed == 0 ]]; then
    app="$ROOT/$DEFAULT_APP"
elif [[ -n "$app" && ! -e "$app" && -e "$ROOT/$app" ]]; then
    # e.g. `jobs/stream_cdc.py` given from outside the repo: take it from the repo.
    app="$ROOT/$app"
fi
if [[ -n "$app" && ! -e "$app" ]]; then
    die "application '$app' not found"
fi

# --- the project's packages as one zip (deploy/package.py, the Glue job's builder) --
# Rewritten only when its bytes change (entries carry a fixed timestamp), through a
# rename, so a job already running from the zip is never handed a file rewritten under it.
zip_path="$ROOT/work/dist/stream_cdc.zip"
"$PYSPARK_PYTHON" -m deploy.package --all --output "$zip_path"

# Local mode: bind the driver to loopback (no "hostname resolves to a loopback
# address" warning, nothing listening on other interfaces) unless the caller chose.
if [[ "$master" == local* && -z "${SPARK_LOCAL_IP:-}" ]]; then
    export SPARK_LOCAL_IP=127.0.0.1
fi

# --- scratch: one folder per run, locked while the run lives ----------------------
# Spark copies every jar and --py-files into its scratch (userFiles-*), spills and keeps
# blocks there (blockmgr-*), and the JVM unpacks native libraries into java.io.tmpdir: a
# run killed with SIGKILL never cleans any of it. Each run works in its own folder and
# holds an exclusive lock on <folder>/.lock (fd 9, inherited by the JVM through exec, so
# the lock lives exactly as long as the run). At start, every run folder whose lock can
# be taken belongs to a dead run and is removed; a live run's lock cannot be taken.
scratch_root="${STREAM_CDC_SCRATCH:-$PWD/work/scratch}"
mkdir -p "$scratch_root"
for old_run in "$scratch_root"/run-*; do
    [[ -d "$old_run" ]] || continue
    if flock -n "$old_run/.lock" true 2>/dev/null; then
        rm -rf -- "$old_run"
    fi
done
# Created under a name no other start looks at, locked, then renamed: a concurrent start
# never sees an unlocked run folder that is still alive.
starting="$(mktemp -d "$scratch_root/.starting-XXXXXX")"
exec 9>"$starting/.lock"
flock -n 9 || die "cannot lock the scratch folder $starting"
scratch="$scratch_root/run-$(date -u +%Y%m%dT%H%M%SZ)-$$"
mv -- "$starting" "$scratch"
mkdir -p "$scratch/tmp"
# Spark's local dirs (SPARK_LOCAL_DIRS: spark.local.dir would also work, with a warning
# at every start), the driver JVM's temp dir (native libraries, Spark's own temp files)
# and the Python driver's (tempfile).
export SPARK_LOCAL_DIRS="$scratch"
export TMPDIR="$scratch/tmp"

[[ -n "$STREAM_CDC_JARS" ]] || die "no jar in .jars/ (scripts/bootstrap.sh should have fetched them)"
jars="$STREAM_CDC_JARS${user_jars:+,$user_jars}"
py_files="$zip_path${user_py_files:+,$user_py_files}"
# Quoted for spark's own option parsing, in case the repo path has spaces.
java_opts="-Dlog4j2.configurationFile=\"$STREAM_CDC_LOG4J2\" -Djava.io.tmpdir=\"$scratch/tmp\""
# Spark compiles some query steps (Debezium's decoding) into methods longer than HotSpot
# compiles by default; left to its interpreter, they ran twice as slow (runtime/session.py).
jit_opts="-XX:-DontCompileHugeMethods"
java_opts+=" $jit_opts${user_java_opts:+ $user_java_opts}"

# Local mode only: a cluster's executors (and local-cluster's) are JVMs without the jar.
driver_cp="$user_driver_cp"
local_fs=()
if [[ ("$master" == local || "$master" == local\[*) && -n "${STREAM_CDC_LOCAL_FS_JAR:-}" &&
    "${STREAM_CDC_LOCAL_FS:-1}" != 0 ]]; then
    driver_cp="$STREAM_CDC_LOCAL_FS_JAR${user_driver_cp:+:$user_driver_cp}"
    local_fs=(
        --conf spark.hadoop.fs.file.impl=streamcdc.localfs.NioLocalFileSystem
        --conf spark.hadoop.fs.AbstractFileSystem.file.impl=streamcdc.localfs.NioLocalFs
    )
fi

cmd=(
    "$ROOT/.venv/bin/spark-submit"
    --master "$master"
    --jars "$jars"
    --py-files "$py_files"
    --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension,org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions
    --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
    --conf "spark.executor.extraJavaOptions=$jit_opts"
    "${local_fs[@]}"
    --driver-java-options "$java_opts"
)
[[ -n "$driver_cp" ]] && cmd+=(--driver-class-path "$driver_cp")
cmd+=("${spark_opts[@]}")
[[ -n "$app" ]] && cmd+=("$app")

# Ctrl-C: the terminal sends SIGINT to the whole foreground process group, i.e. to
# the JVM that spark-submit becomes AND to the Python driver it starts. If the JVM
# got it, its shutdown hooks would stop the SparkContext at once, killing the
# running micro-batch under the Python driver. Ignoring SIGINT here makes the exec'd
# JVM inherit "ignored" (HotSpot leaves an ignored SIGINT ignored, like under nohup),
# so only the Python driver reacts: it installs its own SIGINT handler, lets the
# current batch finish, stops the query and exits, and the JVM then exits with it.
# (Python keeps an inherited ignored SIGINT too, so the driver must install its
# handler explicitly with signal.signal; it gets no KeyboardInterrupt by default.)
trap '' INT
exec "${cmd[@]}" "$@"
