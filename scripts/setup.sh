#!/usr/bin/env bash
# Installs every Debian 12 package ecpo needs to build, test and run (idempotent, non-interactive).
# Usage: sudo scripts/setup.sh            (as root: runs apt-get directly)
#        ECPO_SETUP_NO_UPDATE=1 ...       (skip 'apt-get update' when the lists are fresh)
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates
  # tensors, training, inference (model/ and train/ only); OpenBLAS: float matmul is ~25x slower without it
  libtorch-dev libopenblas0-pthread
  # golden-value generation scripts (optional at build time, used by tests/assets scripts)
  python3-torch
  # JSON, HTTP client + test server, CLI, logging
  nlohmann-json3-dev libcurl4-openssl-dev libcpp-httplib-dev libcli11-dev libspdlog-dev libfmt-dev
  # storage, text, tokenizers, ANN index, config
  libsqlite3-dev libpcre2-dev libutf8proc-dev libsentencepiece-dev libhnswlib-dev libyaml-cpp-dev
  libzstd-dev libxxhash-dev zlib1g-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev
  # headless rendering of the HTML report in its test (the test skips with a message without it)
  chromium
)

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ -z "${ECPO_SETUP_NO_UPDATE:-}" ]; then $SUDO apt-get update -q; fi
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
