#!/usr/bin/env python3
"""PyTorch's side of `losskit bench`: forward+backward medians for the same ops and shapes.

    python3 bench/torch_losses.py --threads 2 --repeats 15 'cross_entropy:64x10' ...

Prints one JSON line per case: {"op", "shape", "dtype", "impl", "median_ms", "peak_bytes"}.
The sigmoid focal loss is torchvision's when torchvision imports, else the same formula.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

try:
    from torchvision.ops import sigmoid_focal_loss
    FOCAL_IMPL = "torchvision"
except ImportError:
    FOCAL_IMPL = "pytorch"

    def sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean"):
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma) * (alpha * y + (1 - alpha) * (1 - y))
        return loss.mean()


def case(op, shape, repeats):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 3).requires_grad_(True)
    if op == "cross_entropy":
        target = torch.randint(0, shape[1], (shape[0],) + tuple(shape[2:]), generator=g)
        fn = lambda: F.cross_entropy(x, target)
    elif op == "cross_entropy_probs":
        probs = torch.softmax(torch.rand(shape, generator=g), 1)
        fn = lambda: F.cross_entropy(x, probs)
    elif op == "nll":
        target = torch.randint(0, shape[1], (shape[0],), generator=g)
        fn = lambda: F.nll_loss(x, target)
    elif op == "softmax_focal":
        # No built-in: the formula as PyTorch users write it (gamma 2, no alpha).
        target = torch.randint(0, shape[1], (shape[0],), generator=g)

        def fn():
            lp_t = F.log_softmax(x, 1).gather(1, target[:, None])
            return (-((1 - lp_t.exp()) ** 2) * lp_t).mean()
    elif op == "softmax":
        fn = lambda: torch.softmax(x, 1).sum()
    elif op == "log_softmax":
        fn = lambda: torch.log_softmax(x, 1).sum()
    elif op == "bce_with_logits":
        target = (torch.rand(shape, generator=g) > 0.5).float()
        fn = lambda: F.binary_cross_entropy_with_logits(x, target)
    elif op == "sigmoid_focal":
        target = (torch.rand(shape, generator=g) > 0.5).float()
        fn = lambda: sigmoid_focal_loss(x, target, reduction="mean")
    else:
        raise SystemExit(f"unknown op {op}")
    times = []
    for i in range(repeats + 2):
        x.grad = None
        t0 = time.perf_counter()
        fn().backward()
        _ = x.grad
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    impl = FOCAL_IMPL if op == "sigmoid_focal" else "pytorch"
    return {"op": op, "shape": list(shape), "dtype": "f32", "impl": impl,
            "median_ms": statistics.median(times), "peak_bytes": None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("cases", nargs="+", help="op:AxBxC")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for c in args.cases:
        op, shape = c.split(":")
        print(json.dumps(case(op, tuple(int(d) for d in shape.split("x")), args.repeats)), flush=True)


if __name__ == "__main__":
    main()
