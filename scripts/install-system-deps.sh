#!/usr/bin/env bash
# Debian packages the test suite needs: PostgreSQL (the local stand-in for Redshift),
# Node.js and npm (the local Kinesis server comes from npm), Prometheus (scrapes the
# running job in tests/e2e/test_prometheus.py), a JDK's javac (compiles jvm/).
# Idempotent and quiet when everything is there; needs root (CI runs as root).
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
# javac compiles jvm/ (local runs' file system; tests/sink/test_local_fs.py needs it).
command -v javac >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)

if ((${#missing[@]} == 0)); then
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    echo "install-system-deps.sh: need root to install: ${missing[*]}" >&2
    exit 1
fi
echo "install-system-deps: apt-get install ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
