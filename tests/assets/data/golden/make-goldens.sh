#!/usr/bin/env bash
# Regenerates tests/assets/data/golden/ from cases.tsv with a given ecpo binary. The committed goldens were
# made by the pre-issue-#15 (in-memory) importer and task builder; the streaming ones must reproduce them
# byte for byte, so rerun this only to record a deliberate change of output, and say so in the commit.
# Usage: make-goldens.sh ECPO_BIN [SHARED_DATA_DIR]
# Writes per case: counts.json (the manifest's "counts"), <file>.jsonl.gz (gzip -n -9; only for cases that
# need no shared data, so no third-party data is copied here), and one line per output file in digests.tsv.
set -euo pipefail
ECPO=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
ASSETS=$(cd "$HERE/.." && pwd)
SHARED=$(realpath "${2:-$HERE/../../../../../shared/data}")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$HERE"
find . -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +
printf '# case\tfile\tsha256\tbytes (made by make-goldens.sh from cases.tsv)\n' > digests.tsv
cats() { LC_ALL=C ls "$SHARED/amazon2023_raw_sample" | grep -E '^[A-Z].*\.jsonl$' | sed "s|^|$SHARED/amazon2023_raw_sample/$1|" | tr '\n' ' '; }
while IFS=$'\t' read -r name needs args; do
  [[ -z "$name" || "$name" == \#* ]] && continue
  if [[ "$needs" != "-" && ! -d "$SHARED/$needs" ]]; then echo "skip $name: $SHARED/$needs absent"; continue; fi
  out="$WORK/$name"
  args=${args//\{assets\}/$ASSETS}
  args=${args//\{shared\}/$SHARED}
  args=${args//\{out\}/$out}
  args=${args//\{cats-reviews\}/$(cats "")}
  args=${args//\{cats-meta\}/$(cats meta_)}
  while [[ "$args" =~ \{case:([a-z0-9-]+)\} ]]; do args=${args//\{case:${BASH_REMATCH[1]}\}/$WORK/${BASH_REMATCH[1]}}; done
  # shellcheck disable=SC2086
  "$ECPO" $args > /dev/null 2>&1
  mkdir -p "$name"
  manifest="$out/import.json"; [[ -f "$out/tasks.json" ]] && manifest="$out/tasks.json"
  python3 -c 'import json,sys; json.dump(json.load(open(sys.argv[1]))["counts"], open(sys.argv[2], "w"), indent=1, sort_keys=True)' \
    "$manifest" "$name/counts.json"
  for f in $(cd "$out" && LC_ALL=C ls *.jsonl); do
    printf '%s\t%s\t%s\t%s\n' "$name" "$f" "$(sha256sum < "$out/$f" | cut -d' ' -f1)" "$(stat -c %s "$out/$f")" >> digests.tsv
    [[ "$needs" == "-" ]] && gzip -n -9 -c "$out/$f" > "$name/$f.gz"
  done
  echo "made $name"
done < cases.tsv
