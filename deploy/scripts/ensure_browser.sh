#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is installed at /usr/bin/chromium: tests/ui drives it with
# Playwright for Python (never `playwright install`, which downloads browsers). Debian package, as root.
# Idempotent: does nothing when it is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "Chromium is missing (/usr/bin/chromium); install it as root:" >&2
  echo "  apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
if [ ! -x /usr/bin/chromium ]; then
  echo "apt-get installed chromium but /usr/bin/chromium is still missing" >&2
  exit 1
fi
