#!/usr/bin/env bash
# One epoch of the tutorial's training on an MNIST-format directory (default: the full
# Fashion-MNIST of Debian's dataset-fashion-mnist): losskit against PyTorch with the data
# preloaded (1 and 2 threads each) and with the tutorial's DataLoader pipeline (2 threads),
# in alternating rounds; prints each configuration's median and range over the rounds, and
# the ratios the README quotes.
#   cargo build --release -p losskit-cli && bench/train_epoch.sh [DIR] [ROUNDS]
# PyTorch is optional: without it only losskit's lines are printed.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/usr/share/datasets/fashion-mnist}
rounds=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
now() { date +%s.%N; }
torch=0
python3 -c "import torch, torchvision" 2>/dev/null && torch=1

# Appends "name threads loop process accuracy" to $out/results.
losskit_run() {
  local threads=$1 t0 t1
  t0=$(now)
  RAYON_NUM_THREADS=$threads target/release/losskit train --data "$dir" --epochs 1 \
    --out "$out/run" --overwrite --log-every 1000000 > /dev/null
  t1=$(now)
  python3 - "$out/run/summary.json" "$t0" "$t1" "$threads" >> "$out/results" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("losskit", sys.argv[4], s["train_seconds"], float(sys.argv[3]) - float(sys.argv[2]), s["test_accuracy"])
PY
}

torch_run() {
  local mode=$1 threads=$2 t0 t1 line
  t0=$(now)
  line=$(THREADS=$threads python3 bench/train_epoch.py "$mode" "$dir")
  t1=$(now)
  python3 - "$line" "$t0" "$t1" "$threads" >> "$out/results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print("torch-" + r["mode"], sys.argv[4], r["loop_seconds"], float(sys.argv[3]) - float(sys.argv[2]), r["test_accuracy"])
PY
}

for _ in $(seq "$rounds"); do
  for threads in 1 2; do
    losskit_run "$threads"
    [ "$torch" = 1 ] && torch_run preloaded "$threads"
  done
  [ "$torch" = 1 ] && torch_run dataloader 2
done

python3 - "$out/results" "$rounds" "$(lscpu | sed -n 's/^Model name: *//p')" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
names = {"losskit": "losskit (burn flex)", "torch-preloaded": "PyTorch, preloaded tensor",
         "torch-dataloader": "PyTorch, tutorial DataLoader"}
runs = {}
for name, threads, loop, process, accuracy in rows:
    runs.setdefault((name, int(threads)), []).append((float(loop), float(process), float(accuracy)))
def spread(values):
    return f"{statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})"
print(f"{sys.argv[3]}, {sys.argv[2]} rounds: median (min-max) seconds")
print(f"{'implementation':<30} {'threads':>7} {'loop s/epoch':>20} {'process s':>20} {'accuracy':>9}")
for (name, threads), r in runs.items():
    print(f"{names[name]:<30} {threads:>7} {spread([x[0] for x in r]):>20} {spread([x[1] for x in r]):>20} {r[-1][2]:9.4f}")
median = lambda key, i: statistics.median(x[i] for x in runs[key])
for threads in (1, 2):
    if ("torch-preloaded", threads) in runs:
        print(f"loop, losskit / PyTorch preloaded, {threads} thread(s): "
              f"{median(('losskit', threads), 0) / median(('torch-preloaded', threads), 0):.2f}")
if ("torch-dataloader", 2) in runs:
    print(f"process, losskit / PyTorch DataLoader, 2 threads: "
          f"{median(('losskit', 2), 1) / median(('torch-dataloader', 2), 1):.2f}")
PY
