#!/usr/bin/env bash
# Usage: ensure_debian_package.sh PACKAGE PATH_GLOB
# Makes sure Debian package PACKAGE is installed, judged by a file matching PATH_GLOB (e.g. the
# binary the tests run). Idempotent: does nothing when one exists. Installing needs root; without
# it, says which command to run and fails. Used for `postgresql` (tests/deploy starts a throwaway
# server) and `chromium` (tests/ui drives it with Playwright; never `playwright install`).
set -euo pipefail

package="$1"
path_glob="$2"
present() { compgen -G "$path_glob" > /dev/null; }

if present; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "$package is missing ($path_glob); install it as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends $package" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "$package"
if ! present; then
  echo "apt-get installed $package but nothing matches $path_glob" >&2
  exit 1
fi
