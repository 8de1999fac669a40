#!/usr/bin/env bash
# Runs a command with the real lakeFS server at hand: where Go is present it builds the server (or
# takes the cached build) and exports MLOPS_LAKEFS_BIN and MLOPS_REQUIRE_LAKEFS=1, so the tests that
# need a real lakeFS run, and fail rather than skip without one. With --s3 first, it also builds
# SeaweedFS (deploy/seaweedfs) and exports MLOPS_WEED_BIN and MLOPS_REQUIRE_S3=1: the production
# test then keeps lakeFS's objects, MLflow's artifacts and Dagster's compute logs in a real S3-
# compatible store. Where there is no Go it says so in one line and runs the command as it is.
set -euo pipefail
deploy="$(cd "$(dirname "$0")/.." && pwd)"
with_s3=0
if [ "${1:-}" = "--s3" ]; then with_s3=1; shift; fi
if command -v go > /dev/null; then
    MLOPS_LAKEFS_BIN="$(bash "$deploy/lakefs/build.sh" | tail -n 1)"
    export MLOPS_LAKEFS_BIN MLOPS_REQUIRE_LAKEFS=1
    if [ "$with_s3" = 1 ]; then
        MLOPS_WEED_BIN="$(bash "$deploy/seaweedfs/build.sh" | tail -n 1)"
        export MLOPS_WEED_BIN MLOPS_REQUIRE_S3=1
    fi
else
    echo "no Go toolchain on PATH: the real-lakeFS tests are skipped (the store suite runs on the local store and the fake)"
fi
exec "$@"
