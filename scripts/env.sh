#!/usr/bin/env bash
# shellcheck shell=bash
# The environment the project's Python code runs in, in one place.
#
#   source scripts/env.sh            # from bash: export it into this shell
#   scripts/env.sh CMD [ARGS...]     # run CMD with it (used by `make bench`)
#
# It does not bootstrap anything: run scripts/bootstrap.sh first.
#
# Exports:
#   STREAM_CDC_ROOT        absolute path of the repo root
#   STREAM_CDC_JARS        comma-separated absolute paths of .jars/*.jar (for spark.jars)
#   STREAM_CDC_LOCAL_FS_JAR  absolute path of .jars/local/stream-cdc-localfs.jar, empty when
#                          absent: local runs' file system (runtime/session.py)
#   STREAM_CDC_LOG4J2      absolute path of conf/log4j2.properties
#   PYTHONPATH             repo root first, so the packages import from the work tree
#   PYSPARK_PYTHON,
#   PYSPARK_DRIVER_PYTHON  the venv's python, for the driver and Python workers
#   SPARK_HOME             the venv's pyspark, so no other Spark install is picked up

_stream_cdc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_stream_cdc_jars=""
for _stream_cdc_jar in "$_stream_cdc_root"/.jars/*.jar; do
    [[ -e "$_stream_cdc_jar" ]] || continue
    _stream_cdc_jars="${_stream_cdc_jars:+$_stream_cdc_jars,}$_stream_cdc_jar"
done

export STREAM_CDC_ROOT="$_stream_cdc_root"
export STREAM_CDC_JARS="$_stream_cdc_jars"
_stream_cdc_fs_jar="$_stream_cdc_root/.jars/local/stream-cdc-localfs.jar"
[[ -f "$_stream_cdc_fs_jar" ]] || _stream_cdc_fs_jar=""
export STREAM_CDC_LOCAL_FS_JAR="$_stream_cdc_fs_jar"
export STREAM_CDC_LOG4J2="$_stream_cdc_root/conf/log4j2.properties"
export PYTHONPATH="$_stream_cdc_root${PYTHONPATH:+:$PYTHONPATH}"
export PYSPARK_PYTHON="$_stream_cdc_root/.venv/bin/python"
export PYSPARK_DRIVER_PYTHON="$_stream_cdc_root/.venv/bin/python"
export SPARK_HOME="$_stream_cdc_root/.venv/lib/python3.11/site-packages/pyspark"
unset _stream_cdc_root _stream_cdc_jars _stream_cdc_jar _stream_cdc_fs_jar

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    if [[ $# == 0 ]]; then
        echo "usage: scripts/env.sh CMD [ARGS...]   (or: source scripts/env.sh)" >&2
        exit 2
    fi
    exec "$@"
fi
