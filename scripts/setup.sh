#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (as root, or with sudo):
# Debian's socat (the simulator's serial console), chromium (web page tests),
# postgresql (the issuer's PostgreSQL tests), qemu-user and libc6-i386 (the
# 32-bit Espruino interpreter in ../shared/espruino, run near a card's speed),
# then the npm packages from the lockfile.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
missing=()
command -v socat >/dev/null || missing+=(socat)
command -v chromium >/dev/null || missing+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v qemu-i386 >/dev/null || missing+=(qemu-user)
[ -e /lib/ld-linux.so.2 ] || missing+=(libc6-i386)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
npm ci --no-fund --no-audit
