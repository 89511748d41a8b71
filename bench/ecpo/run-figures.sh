#!/usr/bin/env bash
# The closing figures of the ECPO stage: pairs per λ, rejections by reason, and LLM calls / tokens /
# trajectories per pair for ECPO and each baseline (traj-sft, traj-kto, tree-dpo, tree-kto), on
#   1. an offline run (rule agent × agenda user, heuristic rewriter), and
#   2. a fake-server run (rule agent × AILO user, the EC rater and the rewriter on `ecpo fake-server` with
#      tests/assets/ecpo/fake-ecpo-script.yaml; tokens are the fake server's word counts, dollars at
#      configs/prices.yaml list prices for the model names).
# Usage: bash bench/ecpo/run-figures.sh [BUILD_DIR] [TASKS]   (defaults: build, 60 train tasks). Output: runs/figures/.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
N=${2:-60}
ECPO="$BUILD/tools/ecpo/ecpo"
COST="$BUILD/bench/ecpo/bench-ecpo-cost"
OUT=runs/figures
PORT=${PORT:-8097}
rm -rf "$OUT" && mkdir -p "$OUT"
"$ECPO" data synth --domain book --users 40 --seed 7 --out "$OUT/raw" > /dev/null
"$ECPO" data import --source amazon2023 --reviews "$OUT/raw/Books.jsonl" --meta "$OUT/raw/meta_Books.jsonl" --out "$OUT/data" > /dev/null
"$ECPO" tasks build --data "$OUT/data" --out "$OUT/tasks" --seed 7 > /dev/null
"$ECPO" index build --data "$OUT/tasks" --out "$OUT/index" --kind bm25 > /dev/null

chain() {  # chain NAME USER [ROLES]
  local name=$1 user=$2 roles=${3:-}
  local d="$OUT/$name" flags=(--offline)
  [ -n "$roles" ] && flags=(--roles "$roles")
  local sflags=()
  [ -n "$roles" ] && sflags=(--roles "$roles")
  "$ECPO" --no-progress simulate --tasks "$OUT/tasks" --split train --index "$OUT/index" --agent rule --user "$user" \
    "${sflags[@]}" --out "$d/run" --limit "$N" > /dev/null
  "$ECPO" rewrite --run "$d/run" --lambda 1,2,3,4,5 --out "$d/ecpo" "${flags[@]}" > /dev/null
  for m in traj-sft traj-kto tree-dpo tree-kto; do
    local mflags=()
    [[ $m == tree-* ]] && mflags=("${flags[@]}" --k 3 --depth 2)
    "$ECPO" mtpo --method "$m" --run "$d/run" --out "$d/$m" "${mflags[@]}" > /dev/null
  done
  echo "== $name ($N train tasks, rule agent × $user)"
  "$COST" "$d/ecpo" "$d/traj-sft" "$d/traj-kto" "$d/tree-dpo" "$d/tree-kto"
}

chain offline agenda

"$ECPO" fake-server --port "$PORT" --script tests/assets/ecpo/fake-ecpo-script.yaml > "$OUT/fake-server.log" 2>&1 &
FAKE=$!
trap 'kill $FAKE 2>/dev/null || true' EXIT
sleep 1
cat > "$OUT/roles-fake.yaml" <<YAML
defaults:
  backend: openai
  base_url: http://127.0.0.1:$PORT/v1
  api_key_env: ""
  timeout_ms: 30000
  max_concurrency: 64
  retry: {max_attempts: 2, base_ms: 10, max_ms: 100, jitter: 0}
roles:
  user_sim: {model: gpt-4o-mini-2024-07-18, params: {temperature: 0.0, max_tokens: 256}}
  ec_rater: {model: gpt-4o-mini-2024-07-18, params: {temperature: 0.0, max_tokens: 256}}
  rewriter: {model: gpt-4o-mini-2024-07-18, params: {temperature: 1.0, max_tokens: 512}}
cache: {enabled: false}
prices: $(pwd)/configs/prices.yaml
YAML
chain fake-server ailo "$OUT/roles-fake.yaml"
