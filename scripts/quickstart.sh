#!/usr/bin/env bash
# The offline main job: installs the Debian packages, builds ecpo (and ecpo-train), then runs the whole
# method with one command — `ecpo pipeline configs/quickstart.yaml`: synthetic Books data → tasks → personas →
# index → expert simulation (rule agent × agenda user) → SGPT rows → a small random student → LoRA SFT →
# the SGPT student simulated → heuristic rewrites → preference pairs → DPO (ECPO) → base / SGPT / ECPO / expert
# on the test split → win rates → report.html. No network, no model server; a few minutes on 2 CPU cores.
# It ends with the results table (SR, R, WR, mean EC, invalid-action rate per agent), the pair counts per λ
# and the path of the HTML report. Run it again and finished stages are skipped; kill it and it continues.
# Env: BUILD_DIR (default build), JOBS (default nproc); extra arguments go to `ecpo pipeline` (key=value …).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target ecpo ecpo-train
"$BUILD_DIR/tools/ecpo/ecpo" --no-progress pipeline configs/quickstart.yaml "$@"
