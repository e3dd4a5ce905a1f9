#!/usr/bin/env bash
# Installs the PostgreSQL server binaries that `make run`, the tests and
# CI start a private cluster from, when /usr/lib/postgresql/*/bin has no
# initdb. Debian only; needs root (or sudo).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  sudo="sudo"
fi
echo "installing the postgresql package (server binaries for a private test cluster)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq postgresql >/dev/null
# The package may start the system's own cluster on port 5432; the
# project never uses it.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null
