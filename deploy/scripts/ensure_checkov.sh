#!/usr/bin/env bash
# Installs checkov into its own virtualenv, .venv-tools/checkov: its pinned dependencies conflict
# with the project's (it would downgrade packaging, networkx, cachetools, ...). Idempotent.
# Usage: deploy/scripts/ensure_checkov.sh  -> prints the path of the checkov executable.
set -euo pipefail

CHECKOV_VERSION=3.3.30
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/.venv-tools/checkov"
checkov="$venv/bin/checkov"

# The tools directory ignores itself, so git never sees it.
mkdir -p "$root/.venv-tools"
printf '*\n' > "$root/.venv-tools/.gitignore"

if [ -x "$checkov" ] && [ "$("$checkov" --version 2>/dev/null)" = "$CHECKOV_VERSION" ]; then
  echo "$checkov"
  exit 0
fi
"${PYTHON:-python3}" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
"$checkov" --version > /dev/null
echo "$checkov"
