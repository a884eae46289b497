#!/usr/bin/env bash
# Every tier on every device torch sees (CUDA included), in an environment that already
# exists, offline, in one call of a few minutes; prints one table of statuses and figures.
#
#   bash scripts/device_check.sh [PYTHON]      # PYTHON: the XTTS environment's interpreter
#
# Needs the harness's own packages (packaging, psutil) in the python3 that runs it, and the
# built fixture: carry ~/.cache/xtts-compat/xtts-tiny-* along and point XTTS_COMPAT_CACHE
# at its parent (default: ./.fixture-cache). Without pytest in PYTHON, a pytest overlay is
# put in the cache folder (that needs uv's cache or PyPI once).
set -euo pipefail
cd "$(dirname "$0")/.."
export XTTS_COMPAT_CACHE="${XTTS_COMPAT_CACHE:-$PWD/.fixture-cache}" HF_HUB_OFFLINE=1
python3 -m compat here --python "${1:-python3}" --table
