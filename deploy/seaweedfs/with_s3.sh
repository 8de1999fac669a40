#!/usr/bin/env bash
# Runs a command with an S3-compatible server at hand for the production test: where Go is present it
# builds SeaweedFS (or takes the cached build) and exports MLOPS_WEED_BIN and MLOPS_REQUIRE_S3=1, so
# that test keeps lakeFS's objects, MLflow's artifacts and Dagster's compute logs in a real object
# store and fails rather than fall back without one. Where there is no Go it says so in one line.
set -euo pipefail
if command -v go > /dev/null; then
    binary="$(bash "$(dirname "$0")/build.sh" | tail -n 1)"
    export MLOPS_WEED_BIN="$binary" MLOPS_REQUIRE_S3=1
else
    echo "no Go toolchain on PATH: the production test keeps its objects on local disk (no S3-compatible server)"
fi
exec "$@"
