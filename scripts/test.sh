#!/usr/bin/env bash
# The whole test suite: installs and starts what the tests need, then runs every tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-test-services.sh
npm run build -w web
npm run test -w server
npm run test -w web
# Browser tests (Chromium from ensure-test-services.sh) against the api serving web/dist built above.
npm run test:e2e
