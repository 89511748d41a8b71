#!/usr/bin/env bash
# The offline main job: sets up, builds, then runs the pipeline stages built so far on bundled synthetic
# data (no network, no model): data synth → data import → tasks build → index build → retrieve →
# persona build --offline → simulate (rule agent × agenda user).
# Output lands in runs/quickstart/. Env: BUILD_DIR (default build), JOBS, USERS (default 40), SEED (default 7).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
USERS=${USERS:-40}
SEED=${SEED:-7}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target ecpo
ECPO="$BUILD_DIR/tools/ecpo/ecpo"
OUT=runs/quickstart
rm -rf "$OUT"
mkdir -p "$OUT"

echo "== 1. synthesise raw Amazon-2023 Books data ($USERS users, seed $SEED)"
"$ECPO" data synth --domain book --users "$USERS" --seed "$SEED" --out "$OUT/raw"
echo "== 2. import raw reviews + metadata → items.jsonl, users.jsonl"
"$ECPO" data import --source amazon2023 --reviews "$OUT/raw/Books.jsonl" --meta "$OUT/raw/meta_Books.jsonl" \
  --out "$OUT/data"
echo "== 3. build tasks with the paper's protocol (users with exactly 30 reviews, targets rated >= 4)"
"$ECPO" tasks build --data "$OUT/data" --out "$OUT/tasks" --seed "$SEED"
echo "== 4. build a BM25 index over the task item database"
"$ECPO" index build --data "$OUT/tasks" --out "$OUT/index" --kind bm25
echo "== 5. retrieve: the first test task's target title as the query"
# The query: the title of the first test task's target (compact JSON written by ecpo, so sed suffices).
TARGET=$(head -n 1 "$OUT/tasks/tasks_test.jsonl" | sed -n 's/.*"target_item_id":"\([^"]*\)".*/\1/p')
QUERY=$(grep -F "\"item_id\":\"$TARGET\"" "$OUT/tasks/items.jsonl" | head -n 1 | sed -n 's/.*"title":"\([^"]*\)".*/\1/p')
echo "query: $QUERY"
"$ECPO" retrieve --index "$OUT/index" --query "$QUERY" -k 5
echo "== 6. personas by rules (no LLM): one per task user, all four AILO dimensions"
"$ECPO" persona build --tasks "$OUT/tasks" --out "$OUT/personas.jsonl" --offline
"$ECPO" persona diversity --personas "$OUT/personas.jsonl"
echo "== 7. simulate: the rule agent with the agenda user on every test task (offline; heuristic EC)"
"$ECPO" --no-progress simulate --tasks "$OUT/tasks" --split test --index "$OUT/index" --agent rule --user agenda \
  --personas "$OUT/personas.jsonl" --out "$OUT/run-rule-agenda" --concurrency 2
echo "== done: outputs in $OUT/"
