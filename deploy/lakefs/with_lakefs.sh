#!/usr/bin/env bash
# Runs a command with the real lakeFS server at hand: where Go is present it builds the server (or
# takes the cached build) and exports MLOPS_LAKEFS_BIN and MLOPS_REQUIRE_LAKEFS=1, so the tests that
# need a real lakeFS run, and fail rather than skip without one. Where there is no Go it says so in
# one line and runs the command as it is (those tests then skip).
set -euo pipefail
if command -v go > /dev/null; then
    binary="$(bash "$(dirname "$0")/build.sh" | tail -n 1)"
    export MLOPS_LAKEFS_BIN="$binary" MLOPS_REQUIRE_LAKEFS=1
else
    echo "no Go toolchain on PATH: the real-lakeFS tests are skipped (the store suite runs on the local store and the fake)"
fi
exec "$@"
