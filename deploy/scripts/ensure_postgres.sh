#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, postgres) are installed: tests/deploy starts a
# throwaway server from them. Idempotent: does nothing when they are already there.
set -euo pipefail

if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "PostgreSQL server binaries are missing; install them as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends postgresql" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null
