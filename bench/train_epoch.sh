#!/usr/bin/env bash
# One epoch of the tutorial's training on an MNIST-format directory (default: the full
# Fashion-MNIST of Debian's dataset-fashion-mnist), losskit against PyTorch with the
# tutorial's DataLoader pipeline and with the data preloaded, in one run.
#   cargo build --release && bench/train_epoch.sh [DIR]
# PyTorch is optional: without it only losskit's line is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/usr/share/datasets/fashion-mnist}
out=$(mktemp -d)
now() { date +%s.%N; }
printf '%-28s %12s %14s %10s\n' "implementation" "loop s/epoch" "process s" "accuracy"
t0=$(now)
target/release/losskit train --data "$dir" --epochs 1 --out "$out/run" --log-every 1000000 > /dev/null
t1=$(now)
python3 - "$out/run/summary.json" "$t0" "$t1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{'losskit (burn flex)':<28} {s['train_seconds']:12.2f} {float(sys.argv[3]) - float(sys.argv[2]):14.2f} {s['test_accuracy']:10.4f}")
PY
if python3 -c "import torch, torchvision" 2>/dev/null; then
  for mode in dataloader preloaded; do
    t0=$(now)
    line=$(python3 bench/train_epoch.py "$mode" "$dir")
    t1=$(now)
    python3 - "$line" "$t0" "$t1" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
name = {"dataloader": "PyTorch, tutorial DataLoader", "preloaded": "PyTorch, preloaded tensor"}[r["mode"]]
print(f"{name:<28} {r['loop_seconds']:12.2f} {float(sys.argv[3]) - float(sys.argv[2]):14.2f} {r['test_accuracy']:10.4f}")
PY
  done
fi
rm -rf "$out"
