#!/usr/bin/env python3
"""PyTorch's side of `losskit bench`: forward+backward medians for the same ops and shapes.

    python3 bench/torch_losses.py --threads 2 --repeats 15 'cross_entropy:64x10' ...

Prints one JSON line per case: {"op", "shape", "dtype", "impl", "median_ms", "peak_bytes"}.
`peak_bytes` is measured for linear_cross_entropy alone (NxHxV: `F.cross_entropy(F.linear(x,
W), target)` with the gradients of x and W): the peak of the bytes PyTorch's CPU allocator
holds beyond the inputs during one extra, untimed step, gradients included, from the
profiler's allocation events.
The sigmoid focal loss and the box losses are torchvision's when torchvision imports (else
the focal loss is the same formula and the box losses are skipped); the RNN-T loss is
torchaudio's, skipped without it. ctc's shape is TxNxCxS, rnnt's NxTxUxV, as in `losskit bench`.
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch._C._profiler import _EventType
from torch.profiler import ProfilerActivity, profile

try:
    from torchvision.ops import sigmoid_focal_loss
    from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss
    FOCAL_IMPL = "torchvision"
    BOX_LOSSES = {"generalized_box_iou": generalized_box_iou_loss, "distance_box_iou": distance_box_iou_loss,
                  "complete_box_iou": complete_box_iou_loss}
except ImportError:
    BOX_LOSSES = {}
    FOCAL_IMPL = "pytorch"

    def sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean"):
        p = torch.sigmoid(x)
        ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
        p_t = p * y + (1 - p) * (1 - y)
        loss = ce * ((1 - p_t) ** gamma) * (alpha * y + (1 - alpha) * (1 - y))
        return loss.mean()


def boxes(n, g):
    corners = torch.rand(n, 2, generator=g) * 100
    sides = 1 + torch.rand(n, 2, generator=g) * 49
    return torch.cat([corners, corners + sides], 1)


try:
    from torchaudio.functional import rnnt_loss
except ImportError:
    rnnt_loss = None

BOX_OPS = ("generalized_box_iou", "distance_box_iou", "complete_box_iou")


def peak_bytes(step):
    """The peak of live bytes `step()` allocates beyond what was live before it."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    sizes = []

    def walk(nodes):
        for node in nodes:
            if node.tag == _EventType.Allocation:
                sizes.append((node.start_time_ns, node.extra_fields.alloc_size))
            walk(node.children)

    walk(prof.profiler.kineto_results.experimental_event_tree())
    live = peak = 0
    for _, size in sorted(sizes):
        live += size
        peak = max(peak, live)
    return peak


def case(op, shape, repeats):
    """The case's measurement, or None for a box loss without torchvision or rnnt without torchaudio."""
    if (op in BOX_OPS and not BOX_LOSSES) or (op == "rnnt" and rnnt_loss is None):
        return None
    g = torch.Generator().manual_seed(0)
    if op not in ("ctc", "rnnt", "linear_cross_entropy"):
        x = (torch.randn(shape, generator=g) * 3).requires_grad_(True)
    leaves = []
    if op == "linear_cross_entropy":
        N, H, V = shape
        x = torch.randn(N, H, generator=g).requires_grad_(True)
        w = (torch.randn(V, H, generator=g) / H ** 0.5).requires_grad_(True)
        leaves = [w]
        target = torch.randint(0, V, (N,), generator=g)
        fn = lambda: F.cross_entropy(F.linear(x, w), target)
    elif op == "ctc":
        # Log-probabilities of full-length samples, targets without the blank (0).
        T, N, C, S = shape
        x = torch.log_softmax(torch.rand(T, N, C, generator=g) * 6 - 3, -1).requires_grad_(True)
        target = torch.randint(1, C, (N, S), generator=g)
        input_lengths, target_lengths = torch.full((N,), T), torch.full((N,), S)
        fn = lambda: F.ctc_loss(x, target, input_lengths, target_lengths)
    elif op == "rnnt":
        # Logits of full-length samples, targets without the blank (the last class).
        N, T, U, V = shape
        x = (torch.rand(N, T, U + 1, V, generator=g) * 6 - 3).requires_grad_(True)
        target = torch.randint(0, V - 1, (N, U), generator=g, dtype=torch.int32)
        logit_lengths = torch.full((N,), T, dtype=torch.int32)
        target_lengths = torch.full((N,), U, dtype=torch.int32)
        fn = lambda: rnnt_loss(x, target, logit_lengths, target_lengths)
    elif op in BOX_LOSSES:
        x = boxes(shape[0], g).requires_grad_(True)
        target = boxes(shape[0], g)
        fn = lambda: BOX_LOSSES[op](x, target, reduction="mean")
    elif op in ("l1", "mse", "smooth_l1", "huber"):
        target = torch.randn(shape, generator=g) * 3
        loss = {"l1": F.l1_loss, "mse": F.mse_loss, "smooth_l1": F.smooth_l1_loss, "huber": F.huber_loss}[op]
        fn = lambda: loss(x, target)
    elif op == "cross_entropy":
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
    leaves = [x] + leaves

    def step():
        for leaf in leaves:
            leaf.grad = None
        fn().backward()
        return [leaf.grad for leaf in leaves]

    times = []
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        step()
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    peak = None
    if op == "linear_cross_entropy":
        for leaf in leaves:
            leaf.grad = None
        peak = peak_bytes(step)
    impl = FOCAL_IMPL if op == "sigmoid_focal" or op in BOX_LOSSES else "torchaudio" if op == "rnnt" else "pytorch"
    return {"op": op, "shape": list(shape), "dtype": "f32", "impl": impl,
            "median_ms": statistics.median(times), "peak_bytes": peak}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("cases", nargs="+", help="op:AxBxC")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for c in args.cases:
        op, shape = c.split(":")
        measured = case(op, tuple(int(d) for d in shape.split("x")), args.repeats)
        if measured is not None:
            print(json.dumps(measured), flush=True)


if __name__ == "__main__":
    main()
