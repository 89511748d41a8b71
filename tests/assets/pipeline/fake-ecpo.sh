#!/usr/bin/env bash
# A stand-in for the ecpo binary in the pipeline runner tests: for each verb the pipeline calls it writes the
# files that verb would write, with content made only of the verb and its non-path arguments (so reruns are
# byte-identical). Env: FAKE_FAIL=<verb> exits 3 on that verb; FAKE_SLEEP=<verb> sleeps 30 s in it after
# writing half its outputs (for kill tests); FAKE_LOG=<file> appends one line per call.
set -euo pipefail
verb="$1"; [ "$verb" = data ] || [ "$verb" = tasks ] || [ "$verb" = index ] || [ "$verb" = model ] || \
  [ "$verb" = persona ] || [ "$verb" = train ] || [ "$verb" = pairs ] && verb="$1 $2"
out=""; resume=0; content="$verb"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  a="${args[$i]}"
  case "$a" in
    --out) out="${args[$((i + 1))]}"; i=$((i + 1)) ;;
    --resume) resume=1 ;;
    --*) v="${args[$((i + 1))]:-}"; case "$v" in /*|runs/*|*/*) ;; *) content="$content $a=$v" ;; esac; i=$((i + 1)) ;;
    *=*) case "$a" in *=/*) ;; *) content="$content $a" ;; esac ;;
  esac
done
[ -n "${FAKE_LOG:-}" ] && echo "$verb resume=$resume" >> "$FAKE_LOG"
[ "${FAKE_FAIL:-}" = "$verb" ] && { echo "fake failure in $verb" >&2; exit 3; }
w() { mkdir -p "$(dirname "$1")"; printf '%s\n' "$content" > "$1"; }
case "$verb" in
  "data synth") w "$out/Books.jsonl"; w "$out/meta_Books.jsonl" ;;
  "data import") w "$out/items.jsonl"; w "$out/users.jsonl" ;;
  "tasks build") w "$out/tasks_train.jsonl"; w "$out/tasks_test.jsonl"; w "$out/items.jsonl"
                 printf '{"counts":{"users_selected":4,"train":{"tasks":50},"test":{"tasks":4}}}\n' > "$out/tasks.json" ;;
  "persona build"|"pairs export") w "$out" ;;
  "index build") w "$out/index.json" ;;
  simulate)
    mkdir -p "$out"; [ $resume = 1 ] && [ ! -f "$out/run.db" ] && { echo "--resume without run.db" >&2; exit 4; }
    [ -n "$(ls -A "$out")" ] && [ $resume = 0 ] && { echo "non-empty run dir without --resume" >&2; exit 5; }
    w "$out/run.db"
    [ "${FAKE_SLEEP:-}" = "$verb" ] && [ $resume = 0 ] && sleep 30
    w "$out/trajectories.jsonl"; echo "{\"sr\":0.5,\"wall_s\":$RANDOM}" > "$out/metrics.json" ;;
  sgpt) w "$out" ;;
  "model init") w "$out/config.json"; w "$out/model.safetensors"; w "$out/tokenizer.json" ;;
  "train sft"|"train dpo") w "$out/adapter_config.json"; w "$out/adapter_model.safetensors"; echo "{\"tokens_per_s\":$RANDOM}" > "$out/metrics.jsonl" ;;
  rewrite) w "$out/pairs.jsonl"; echo '{"pairs_per_lambda":{"1":1,"5":3}}' > "$out/rewrite-report.json" ;;
  judge) mkdir -p "$out"; echo '{"wr":{"overall":0.25}}' > "$out/wr.json" ;;
  report) w "$out" ;;
  *) echo "fake-ecpo: unknown verb $verb" >&2; exit 2 ;;
esac
