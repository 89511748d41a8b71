#!/usr/bin/env bash
# Engine benchmark: the kernel engine vs PyTorch eager (/usr/bin/python3, Debian python3-torch) on the same random tiny
# (124k params) and small (102M params) models, f32 and bf16, at THREADS threads: prefill at THREADS and 1 thread (the
# scaling), the torch reference ops beside it, decode vs the bandwidth bound, a 2,000-token prefill; then the process
# overhead of a 1-token `ecpo generate` (best of 5 wall, and its CPU time), and the kernels vs torch matrix products.
# Builds nothing: configure + build first
#   (cmake --build BUILD --target ecpo bench_model_engine bench_model_gemm bench_model_batching).
# Usage: bench/model/run.sh [BUILD_DIR] [THREADS]     (small model: ~410 MB on disk in $TMPDIR, ~5 min)
# The build machines are shared: every table compares side by side in one run; read ratios, not absolutes, and the
# load average printed with them. ECPO_KERNELS=avx2 in the environment measures the AVX2 path on an AVX-512 CPU.
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ECPO="$BUILD/tools/ecpo/ecpo"
BENCH="$BUILD/bench/model/bench_model_engine"
GEMM="$BUILD/bench/model/bench_model_gemm"
for b in "$ECPO" "$BENCH" "$GEMM"; do [ -x "$b" ] || { echo "missing $b: build it first" >&2; exit 1; }; done
# PyTorch eager (the Python reference) runs OpenMP: passive waiting keeps it from starving itself on a busy machine.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecpo-bench-model-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset tiny --seed 1 --out "$WORK/tiny" >/dev/null
ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset small --seed 1 --out "$WORK/small" >/dev/null
/usr/bin/python3 "$ROOT/bench/model/ref_bench.py" "$WORK" "$WORK/python.json" "$THREADS"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" --models "$WORK" --threads "$THREADS" --python "$WORK/python.json"
echo
echo "process overhead of a 1-token 'ecpo generate' on the small model (best of 5; load $(cut -d' ' -f1 /proc/loadavg)):"
for dt in float32 bfloat16; do
  best=""
  for i in 1 2 3 4 5; do
    line=$( { /usr/bin/time -f "%e %U %S" "$ECPO" generate --model "$WORK/small" --dtype "$dt" --threads "$THREADS" \
      --ids 1,2,3 --max-tokens 1 --json >/dev/null; } 2>&1 | tail -1)
    best=$(printf '%s\n%s\n' "$best" "$line" | awk 'NF' | sort -n | head -1)
  done
  echo "$best" | awk -v dt="$dt" '{printf "  %-8s wall %.2f s, CPU %.2f s (user %.2f + sys %.2f)\n", dt, $1, $2 + $3, $2, $3}'
done
echo
"$GEMM" --reps 3
