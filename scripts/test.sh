#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs every test: the README's test command and what CI runs.
# Env: BUILD_DIR (default build), JOBS (default: nproc), ECPO_SHARED_DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
