#!/usr/bin/env bash
# Runs each fuzz target for a fixed time (default 600 s) from its committed seed corpus.
#   cargo install cargo-fuzz; rustup toolchain install nightly   (once)
#   fuzz/run.sh [SECONDS]            (TARGETS="eval" to run only some of the targets)
# A crash leaves its input under fuzz/artifacts/<target>/; add it to the regression tests.
# The build is unoptimised and without AddressSanitizer (--dev -s none): the code under test
# is safe Rust, so panics, aborts, timeouts and out-of-memory are the findings, and an
# ASan release build of burn takes far too long on two cores.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-600}
for target in ${TARGETS:-idx eval differential}; do
  mkdir -p "corpus/$target"
  work=$(mktemp -d)
  cp corpus/$target/* "$work"/
  echo "== $target for ${secs}s"
  cargo +nightly fuzz run --dev -s none "$target" "$work" -- -max_total_time="$secs" -max_len=65536 -rss_limit_mb=4096 2>&1 | tail -n 12
  rm -rf "$work"
done
