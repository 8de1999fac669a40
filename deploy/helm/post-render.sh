#!/usr/bin/env bash
# Helm post-renderer: `helm upgrade --install ... --post-renderer deploy/helm/post-render.sh`.
# Reads the chart's rendered manifests on stdin, applies post-renderer/kustomization.yaml (the code
# server gets no ServiceAccount token) with kubectl's built-in kustomize, writes the result to stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat > "$work/rendered.yaml"
cp "$here/post-renderer/kustomization.yaml" "$work/kustomization.yaml"
kubectl kustomize "$work"
