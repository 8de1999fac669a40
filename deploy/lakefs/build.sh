#!/usr/bin/env bash
# Builds the real lakeFS server (open source) from its Go module, at the version deploy/lakefs/go.mod
# pins, and beside it lakeFS's open-source ACL auth server (contrib/auth/acl, as `acl`: users in
# groups Admins/Supers/Writers/Readers); prints the lakeFS binary's path as the last line. The
# binaries are cached outside the checkout, keyed by go.mod and go.sum, so a second call (or a fresh
# clone on the same machine) costs a hash; a changed pin builds again, reusing Go's own module and
# build caches.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
command -v go > /dev/null || { echo "lakefs: no Go toolchain on PATH; cannot build the lakeFS server" >&2; exit 3; }
cd "$here"
version="$(go list -m -f '{{.Version}}' github.com/treeverse/lakefs)"
key="$(cat go.mod go.sum | sha256sum | cut -c1-12)"
cache="${MLOPS_LAKEFS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops_assets/lakefs}/$version-$key"
binary="$cache/lakefs"
acl="$cache/acl"
if ! [ -x "$binary" ] || ! [ -x "$acl" ]; then
    mkdir -p "$cache"
    echo "lakefs: building lakeFS $version from its Go module (first build: a few minutes)" >&2
    started=$SECONDS
    # -mod=readonly: go.sum is the lock; a module that does not match it fails the build.
    # The version lakeFS's own release build stamps (else `lakefs --version` says "dev").
    go build -mod=readonly -trimpath -o "$binary.partial" \
        -ldflags "-X github.com/treeverse/lakefs/pkg/version.Version=${version#v}" \
        github.com/treeverse/lakefs/cmd/lakefs
    go build -mod=readonly -trimpath -o "$acl.partial" github.com/treeverse/lakefs/contrib/auth/acl/cmd/acl
    mv "$binary.partial" "$binary"
    mv "$acl.partial" "$acl"
    echo "lakefs: built in $((SECONDS - started)) s" >&2
fi
"$binary" --version > /dev/null
"$acl" --help > /dev/null
echo "$binary"
