#!/usr/bin/env bash
# `npm test`: type-check, build the firmware, then run every test. The issuer's
# PostgreSQL tests get a throwaway server on 127.0.0.1 (scripts/postgres.sh),
# unless INKCARD_TEST_PG_URL already names one.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run --silent typecheck
npm run --silent build
if [ -z "${INKCARD_TEST_PG_URL:-}" ]; then
  eval "$(bash scripts/postgres.sh)"
  trap 'bash scripts/postgres.sh stop' EXIT
fi
npx mocha "$@"
