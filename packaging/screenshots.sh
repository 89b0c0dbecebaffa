#!/usr/bin/env bash
# Refreshes docs/screenshots/ by driving the real studio under Xvfb (needs a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-}
if [[ -z "$model" ]]; then
  if [[ -f resources/models/atelier-tiny/model_index.json ]]; then model=resources/models/atelier-tiny
  else model=../shared/fixtures/tiny-sd-a; fi
fi
cmake --build build/release --target atelier-screenshots
xvfb-run -a -s "-screen 0 1600x1000x24" build/release/app/atelier-screenshots "$model" docs/screenshots
