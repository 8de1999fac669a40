#!/usr/bin/env bash
# Builds SeaweedFS's `weed` (Apache-2.0; an S3-compatible object store) from its Go module, at the
# version deploy/seaweedfs/go.mod pins, and prints the binary's path as the last line. Cached like
# the lakeFS build (deploy/lakefs/build.sh), keyed by go.mod and go.sum. MinIO, the usual choice, is
# AGPL-3.0, which this project does not take on; SeaweedFS speaks the same S3 API for our needs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v go > /dev/null || { echo "seaweedfs: no Go toolchain on PATH" >&2; exit 3; }
cd "$here"
version="$(go list -m -f '{{.Version}}' github.com/seaweedfs/seaweedfs)"
key="$(cat go.mod go.sum | sha256sum | cut -c1-12)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlops_assets/seaweedfs/$version-$key"
binary="$cache/weed"
if ! [ -x "$binary" ]; then
    mkdir -p "$cache"
    echo "seaweedfs: building weed $version from its Go module (first build: several minutes)" >&2
    started=$SECONDS
    go build -mod=readonly -trimpath -o "$binary.partial" github.com/seaweedfs/seaweedfs/weed
    mv "$binary.partial" "$binary"
    echo "seaweedfs: built in $((SECONDS - started)) s" >&2
fi
echo "$binary"
