#!/usr/bin/env bash
# Trainer benchmark: one LoRA optimiser step of ecpo (train_run, bench_train) vs PyTorch eager written the way
# PEFT + TRL run it (ref_step.py, /usr/bin/python3 with Debian python3-torch) on the same random models and the
# same batch: tiny (124k params) and small (102M params, `ecpo model init --preset small`), SFT and DPO
# (reference log-probs cached on both sides), float32 and bfloat16 base, LoRA r 8 α 16 on all seven
# projections, AdamW, clipping at 1.0. Prints step time, tokens/s and peak RSS of each process, with ratios.
# Builds nothing: cmake --build BUILD --target ecpo bench_train first.
# Usage: bench/train/run.sh [BUILD_DIR] [THREADS] [quick]     (~5 min at 2 threads; small model ~410 MB in $TMPDIR)
set -euo pipefail
BUILD=${1:-build}
THREADS=${2:-2}
QUICK=${3:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
ECPO="$BUILD/tools/ecpo/ecpo"
BENCH="$BUILD/bench/train/bench_train"
for b in "$ECPO" "$BENCH"; do [ -x "$b" ] || { echo "missing $b: build it first" >&2; exit 1; }; done
# Shared build machines (load average >> cores): passive OpenMP waiting for both programs (see bench/model/run.sh).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ecpo-bench-train-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset tiny --seed 1 --out "$WORK/tiny" >/dev/null
[ -n "$QUICK" ] || ECPO_RESOURCES="$ROOT/resources" "$ECPO" model init --preset small --seed 1 --out "$WORK/small" >/dev/null
# Batches (random ids, fixed seed): SFT rows = prompt + completion; DPO pairs = prompt + chosen / rejected.
/usr/bin/python3 - "$WORK" <<'PY'
import json, random, sys
w = sys.argv[1]
def rows(path, n, prompt, comp, vocab, pairs, seed):
    rnd = random.Random(seed)
    ids = lambda k: [rnd.randrange(vocab) for _ in range(k)]
    with open(path, "w") as f:
        for _ in range(n):
            p = ids(prompt)
            if pairs:
                r = {"prompt_input_ids": p, "chosen_input_ids": ids(comp), "rejected_input_ids": ids(comp - 8)}
            else:
                r = {"input_ids": p + ids(comp), "completion_mask": [0] * prompt + [1] * comp}
            f.write(json.dumps(r) + "\n")
rows(f"{w}/tiny-sft.jsonl", 8, 96, 32, 500, False, 1)
rows(f"{w}/tiny-dpo.jsonl", 4, 96, 32, 500, True, 2)
rows(f"{w}/small-sft.jsonl", 4, 224, 32, 8000, False, 3)
rows(f"{w}/small-dpo.jsonl", 2, 224, 32, 8000, True, 4)
PY
RESULTS="$WORK/results.jsonl"
run_pair() {  # model objective dtype steps warmup
  "$BENCH" --model "$WORK/$1" --data "$WORK/$1-$2.jsonl" --objective "$2" --dtype "$3" --threads "$THREADS" \
    --steps "$4" --warmup "$5" --label "$1" 2>/dev/null | tail -1 >> "$RESULTS"
  /usr/bin/python3 "$ROOT/bench/train/ref_step.py" "$WORK/$1" "$WORK/$1-$2.jsonl" "$2" "$3" "$THREADS" "$4" "$5" "$1" \
    >> "$RESULTS"
}
for obj in sft dpo; do run_pair tiny "$obj" float32 20 3; done
if [ -z "$QUICK" ]; then
  for dt in float32 bfloat16; do for obj in sft dpo; do run_pair small "$obj" "$dt" 4 1; done; done
fi
echo "threads $THREADS, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"$BENCH" --report "$RESULTS"
