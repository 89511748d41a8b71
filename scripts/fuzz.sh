#!/usr/bin/env bash
# Builds the fuzz targets (fuzz/: libFuzzer + AddressSanitizer + UndefinedBehaviorSanitizer with Debian's
# clang-14, in its own build directory; torch-free sources only) and runs each for SECONDS (default 60) on a
# corpus seeded from tests/assets, configs/ and fuzz/seeds. Prints one row per target (executions, corpus,
# result) and exits non-zero when any target finds a crash, a leak, a hang (> 10 s per input) or an
# allocation over 1 GiB; the input is kept under $FUZZ_BUILD_DIR/crashes/<target>/.
#   scripts/fuzz.sh [SECONDS]      CI runs it with a few seconds per target (scripts/test.sh)
# Env: FUZZ_OPT (0 or 1, default 1: -O1 fuzzes ~2x faster, -O0 builds ~40% faster), FUZZ_BUILD_DIR (default
#      build-fuzz, build-fuzz-O0 for FUZZ_OPT=0), FUZZ_TARGETS (space-separated subset), JOBS (default nproc),
#      FUZZ_CXX (default clang++-14).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
OPT=${FUZZ_OPT:-1}
DEFAULT_DIR=build-fuzz
[ "$OPT" = 0 ] && DEFAULT_DIR=build-fuzz-O0
DIR=${FUZZ_BUILD_DIR:-$DEFAULT_DIR}
JOBS=${JOBS:-$(nproc)}
CXX_BIN=${FUZZ_CXX:-clang++-14}
ALL="tokenizer-json tiktoken wordpiece-vocab gguf-vocab safetensors-header hf-config adapter-config records raw-import
     roles-yaml openai-reply serve-request structured-output agent-action"
TARGETS=${FUZZ_TARGETS:-$ALL}

launcher=()
if command -v ccache > /dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
t0=$(date +%s)
mkdir -p "$DIR"
cmake -S fuzz -B "$DIR" -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_BUILD_TYPE= -DECPO_FUZZ_OPT="$OPT" "${launcher[@]}" \
  > "$DIR/configure.log" 2>&1 ||
  { cat "$DIR/configure.log"; exit 1; }
build_targets=()
for t in $TARGETS; do build_targets+=("fuzz_$t"); done
cmake --build "$DIR" -j "$JOBS" --target "${build_targets[@]}" > "$DIR/build.log" 2>&1 || { tail -50 "$DIR/build.log"; exit 1; }
t1=$(date +%s)
echo "fuzz: built ${#build_targets[@]} targets in $((t1 - t0)) s ($DIR)"

# Seeds: fuzz/seeds/<target>/ plus the project's own files of that format.
seed() {  # seed TARGET FILE...
  local c="$DIR/corpus/$1"
  shift
  [ -d "$c" ] || return 0  # a target not selected (FUZZ_TARGETS)
  for f in "$@"; do [ -f "$f" ] && cp -n "$f" "$c/" ; done
  return 0
}
A=tests/assets
for t in $TARGETS; do
  mkdir -p "$DIR/corpus/$t" "$DIR/crashes/$t"
  [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "$DIR/corpus/$t/" 2> /dev/null || true
done
seed tokenizer-json $A/model/tiny-llama/tokenizer.json $A/model/tokenizer/tiny-bpe.json $A/model/tokenizer/tiny-bpe-array.json
seed wordpiece-vocab $A/model/encoder/tiny-bert/vocab.txt
seed safetensors-header $A/model/tiny-llama-lora/adapter_model.safetensors
seed hf-config $A/model/tiny-llama/config.json $A/model/tiny-qwen2/config.json $A/model/encoder/tiny-bert/config.json
seed adapter-config $A/model/tiny-llama-lora/adapter_config.json
seed roles-yaml configs/roles.yaml
if [[ " $TARGETS " == *" raw-import "* ]]; then
  { cat $A/data/amazon_reviews.jsonl; printf '\0'; cat $A/data/meta_Video_Games.jsonl; } > "$DIR/corpus/raw-import/amazon-seed"
  { printf 'Y\n'; cat $A/data/yelp_review.json; printf '\0'; cat $A/data/yelp_business.json; } > "$DIR/corpus/raw-import/yelp-seed"
fi

status=0
printf '%-20s %8s %12s %10s %8s  %s\n' target seconds executions exec/s corpus result
for t in $TARGETS; do
  log="$DIR/fuzz_$t.log"
  dict=()
  case $t in tokenizer-json|hf-config|adapter-config|records|raw-import|openai-reply|serve-request|structured-output|safetensors-header)
    dict=(-dict=fuzz/json.dict) ;;
  esac
  # A bigger max_len only where the format needs it (a safetensors seed is 40 KB).
  maxlen=(-max_len=16384)
  [ "$t" = safetensors-header ] && maxlen=(-max_len=65536)
  set +e
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$DIR/fuzz_$t" "$DIR/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$DIR/crashes/$t/" "${dict[@]}" "${maxlen[@]}" \
    > "$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  corpus=$(find "$DIR/corpus/$t" -type f | wc -l)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (rc $rc, see $log)"
    status=1
  fi
  printf '%-20s %8s %12s %10s %8s  %s\n' "$t" "$SECONDS_PER_TARGET" "${execs:-0}" "${rate:-0}" "$corpus" "$result"
  if [ $rc -ne 0 ]; then grep -m 5 -E 'ERROR|SUMMARY|runtime error|Test unit written|deadly|exceeds' "$log" | sed 's/^/    /'; fi
done
echo "fuzz: total $(( $(date +%s) - t0 )) s"
exit $status
