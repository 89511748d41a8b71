#!/usr/bin/env bash
# Engine benchmark: libtorch engine vs PyTorch eager (/usr/bin/python3, Debian python3-torch) on the same random
# tiny (124k params) and small (102M params) models, f32 and bf16, 2 threads; plus the decode bound =
# measured read bandwidth ÷ weight bytes per token (every decoded token reads all weights once).
# Builds nothing: configure + build first (cmake --build BUILD --target ecpo bench_model_engine).
# Usage: bench/model/run.sh [BUILD_DIR] [THREADS]     (small model: ~410 MB on disk in $TMPDIR, ~3 min)
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ECPO="$BUILD/tools/ecpo/ecpo"
BENCH="$BUILD/bench/model/bench_model_engine"
for b in "$ECPO" "$BENCH"; do [ -x "$b" ] || { echo "missing $b: build it first" >&2; exit 1; }; done
# The build machines are shared (load average ≫ cores): spinning OpenMP workers then starve each other and
# 2-thread runs get 10–50× slower than 1-thread runs. Passive waiting removes that pathology for both programs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecpo-bench-model-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset tiny --seed 1 --out "$WORK/tiny" >/dev/null
ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset small --seed 1 --out "$WORK/small" >/dev/null
/usr/bin/python3 "$ROOT/bench/model/ref_bench.py" "$WORK" "$WORK/python.json" "$THREADS"
echo "OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" --models "$WORK" --threads "$THREADS" --python "$WORK/python.json"
