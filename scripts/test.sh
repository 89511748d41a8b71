#!/usr/bin/env bash
# Sets up (Debian packages), builds and runs every test, then runs each fuzz target for a few seconds
# (scripts/fuzz.sh): the README's test command and what CI runs.
# Env: BUILD_DIR (default build), JOBS (default: nproc), ECPO_SHARED_DATA (default ../shared/data),
#      FUZZ_SECONDS (per target, default 3; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j "$JOBS"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
FUZZ_SECONDS=${FUZZ_SECONDS:-3}
# -O0: the clang build of the torch-free sources dominates a few seconds of fuzzing per target.
if [ "$FUZZ_SECONDS" != 0 ]; then JOBS=$JOBS FUZZ_OPT=${FUZZ_OPT:-0} scripts/fuzz.sh "$FUZZ_SECONDS"; fi
