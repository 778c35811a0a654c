#!/usr/bin/env python3
"""Writes crates/losskit-cli/tests/fixtures/pytorch_cases.jsonl: eval-protocol cases whose
expected values come from PyTorch (and torchvision for the sigmoid focal loss).

    pip install torch torchvision
    python3 tools/golden/generate.py

Each line: {"id", "group", "request", "expected": {"output", "grad_input"} | {"error": true},
"rtol", "atol"}. f32 requests are answered with the f64 truth on the f32-rounded inputs
(what losskit promises to 1e-4); f64 requests with PyTorch's f64 result (to 1e-9).
"""
import os
import sys

import torch
import torch.nn.functional as F

from torchvision.ops import sigmoid_focal_loss as tv_sigmoid_focal_loss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import opt_wire, wire, write_jsonl  # noqa: E402

torch.manual_seed(20261128)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "losskit-cli", "tests", "fixtures", "pytorch_cases.jsonl")
cases = []


def add(cid, group, op, dtype, x, fn, target=None, options=None, grad_output=False, index_target=False):
    """fn(x64, target64, options64) -> output tensor (PyTorch's result)."""
    options = options or {}
    tdt = torch.float32 if dtype == "f32" else torch.float64
    x = x.to(tdt)
    tgt = None if target is None else (target if index_target else target.to(tdt))
    req = {"op": op, "dtype": dtype, "input": wire(x)}
    if tgt is not None:
        req["target"] = wire(tgt, index_target)
    req["options"] = opt_wire({k: (v.to(tdt) if isinstance(v, torch.Tensor) else v) for k, v in options.items()})
    # The truth: f64 on the (possibly f32-rounded) request values.
    x64 = x.to(torch.float64).clone().requires_grad_(True)
    t64 = None if tgt is None else (tgt if index_target else tgt.to(torch.float64))
    o64 = {k: (v.to(tdt).to(torch.float64) if isinstance(v, torch.Tensor) else v) for k, v in options.items()}
    out = fn(x64, t64, o64)
    if grad_output:
        g = torch.randn(out.shape, dtype=tdt)
        req["grad_output"] = wire(g)
        (out * g.to(torch.float64)).sum().backward()
    else:
        out.sum().backward()
    grad = x64.grad if x64.grad is not None else torch.zeros_like(x64)
    cases.append({
        "id": cid, "group": group, "request": req,
        "expected": {"output": wire(out), "grad_input": wire(grad)},
        "rtol": 1e-9 if dtype == "f64" else 1e-4, "atol": 1e-12 if dtype == "f64" else 1e-6,
    })


def add_error(cid, request):
    cases.append({"id": cid, "group": "errors", "request": request, "expected": {"error": True}, "rtol": 0, "atol": 0})


def red(o):
    return o.get("reduction", "mean")


def bce(x, t, o):
    return F.binary_cross_entropy(x, t, weight=o.get("weight"), reduction=red(o))


def bcel(x, t, o):
    return F.binary_cross_entropy_with_logits(x, t, weight=o.get("weight"), pos_weight=o.get("pos_weight"), reduction=red(o))


def ce(x, t, o):
    return F.cross_entropy(x, t, weight=o.get("weight"), ignore_index=o.get("ignore_index", -100),
                           label_smoothing=o.get("label_smoothing", 0.0), reduction=red(o))


def nll(x, t, o):
    return F.nll_loss(x, t, weight=o.get("weight"), ignore_index=o.get("ignore_index", -100), reduction=red(o))


def sigmoid_focal(x, t, o):
    alpha = o.get("alpha", 0.25)
    gamma = o.get("gamma", 2.0)
    if "pos_weight" in o or "weight" in o:
        # YOLOv5's FocalLoss around nn.BCEWithLogitsLoss(weight, pos_weight): alpha always applied.
        loss = F.binary_cross_entropy_with_logits(x, t, pos_weight=o.get("pos_weight"), reduction="none")
        p = torch.sigmoid(x)
        p_t = t * p + (1 - t) * (1 - p)
        if alpha is not None and alpha >= 0:
            loss = loss * (t * alpha + (1 - t) * (1 - alpha))
        loss = loss * (1.0 - p_t) ** gamma
        if "weight" in o:
            loss = loss * o["weight"]
        return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[red(o)]
    return tv_sigmoid_focal_loss(x, t, alpha=-1 if alpha is None else alpha, gamma=gamma, reduction=red(o))


def sigmoid_focal_logspace(x, t, o):
    """The saturated reference: ln(1 - p_t) from log-sigmoids, so no 1 - 1 cancellation."""
    alpha, gamma = o.get("alpha", 0.25), o.get("gamma", 2.0)
    bce_ = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    log1m_pt = torch.where(t > 0.5, F.logsigmoid(-x), F.logsigmoid(x))
    loss = bce_ * torch.exp(gamma * log1m_pt) * (t * alpha + (1 - t) * (1 - alpha))
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[red(o)]


def softmax_focal(x, t, o):
    ii = o.get("ignore_index", -100)
    keep = t != ii
    safe = torch.where(keep, t, torch.zeros_like(t))
    lp = F.log_softmax(x, dim=1)
    lpt = lp.gather(1, safe.unsqueeze(1)).squeeze(1)
    loss = -((1 - lpt.exp()) ** o.get("gamma", 2.0)) * lpt
    alpha = o.get("alpha")
    if isinstance(alpha, torch.Tensor):
        loss = loss * alpha[safe]
    elif alpha is not None:
        loss = loss * alpha
    loss = torch.where(keep, loss, torch.zeros_like(loss))
    return {"none": loss, "mean": loss.sum() / keep.sum(), "sum": loss.sum()}[red(o)]


def kl(x, t, o):
    return F.kl_div(x, t, reduction=red(o), log_target=o.get("log_target", False))


def probs(*shape, dim=-1):
    return torch.softmax(torch.randn(*shape) * 2, dim=dim)


def onehot_soft(n, c):
    return (torch.rand(n, c) > 0.5).float()


REDS = ["none", "mean", "sum"]
for dtype in ["f64", "f32"]:
    for r in REDS:
        # BCE
        add(f"bce/{dtype}/{r}/plain", "bce", "bce", dtype, torch.rand(7), bce, (torch.rand(7) > 0.5).float(), {"reduction": r}, r == "none")
        add(f"bce/{dtype}/{r}/soft_weight_row", "bce", "bce", dtype, torch.rand(3, 4), bce, torch.rand(3, 4), {"reduction": r, "weight": torch.rand(4) * 2}, r == "none")
        add(f"bce/{dtype}/{r}/weight_col", "bce", "bce", dtype, torch.rand(3, 4), bce, torch.rand(3, 4), {"reduction": r, "weight": torch.rand(3, 1) + 0.5}, r == "none")
        # BCE with logits
        add(f"bcel/{dtype}/{r}/plain", "bce_with_logits", "bce_with_logits", dtype, torch.randn(9) * 3, bcel, (torch.rand(9) > 0.5).float(), {"reduction": r}, r == "none")
        add(f"bcel/{dtype}/{r}/soft_weight_pos", "bce_with_logits", "bce_with_logits", dtype, torch.randn(5, 3) * 3, bcel, torch.rand(5, 3), {"reduction": r, "weight": torch.rand(3) + 0.5, "pos_weight": torch.rand(3) * 4}, r == "none")
        add(f"bcel/{dtype}/{r}/pos_weight_c11", "bce_with_logits", "bce_with_logits", dtype, torch.randn(2, 3, 2, 2), bcel, onehot_soft(24, 1).reshape(2, 3, 2, 2), {"reduction": r, "pos_weight": torch.rand(3, 1, 1) * 3}, r == "none")
        # Cross entropy, class indices
        add(f"ce/{dtype}/{r}/plain", "cross_entropy", "cross_entropy", dtype, torch.randn(6, 5) * 2, ce, torch.randint(0, 5, (6,)), {"reduction": r}, r == "none", True)
        add(f"ce/{dtype}/{r}/weight_ignore_smooth", "cross_entropy", "cross_entropy", dtype, torch.randn(8, 4) * 2, ce, torch.tensor([0, 1, 2, 3, -100, 2, 1, -100]), {"reduction": r, "weight": torch.rand(4) + 0.2, "label_smoothing": 0.2}, r == "none", True)
        add(f"ce/{dtype}/{r}/kdim_weight_smooth_ignore_class", "cross_entropy", "cross_entropy", dtype, torch.randn(2, 4, 3, 2), ce, torch.randint(0, 4, (2, 3, 2)), {"reduction": r, "weight": torch.rand(4) + 0.2, "label_smoothing": 0.1, "ignore_index": 2}, r == "none", True)
        add(f"ce/{dtype}/{r}/kdim3", "cross_entropy", "cross_entropy", dtype, torch.randn(2, 3, 5), ce, torch.randint(0, 3, (2, 5)), {"reduction": r}, r == "none", True)
        add(f"ce/{dtype}/{r}/smoothing_1", "cross_entropy", "cross_entropy", dtype, torch.randn(4, 3), ce, torch.randint(0, 3, (4,)), {"reduction": r, "label_smoothing": 1.0}, r == "none", True)
        # Cross entropy, probabilities
        add(f"ce_soft/{dtype}/{r}/weight_smooth", "cross_entropy_soft", "cross_entropy", dtype, torch.randn(5, 4) * 2, ce, probs(5, 4), {"reduction": r, "weight": torch.rand(4) + 0.5, "label_smoothing": 0.15}, r == "none")
        add(f"ce_soft/{dtype}/{r}/kdim", "cross_entropy_soft", "cross_entropy", dtype, torch.randn(2, 3, 4), ce, probs(2, 3, 4, dim=1), {"reduction": r}, r == "none")
        # NLL
        add(f"nll/{dtype}/{r}/weight_ignore", "nll", "nll", dtype, F.log_softmax(torch.randn(6, 5), 1), nll, torch.tensor([4, 0, -100, 2, 2, 1]), {"reduction": r, "weight": torch.rand(5) + 0.2}, r == "none", True)
        add(f"nll/{dtype}/{r}/kdim", "nll", "nll", dtype, F.log_softmax(torch.randn(3, 4, 2, 2), 1), nll, torch.randint(0, 4, (3, 2, 2)), {"reduction": r, "ignore_index": 1}, r == "none", True)
        # Sigmoid focal
        for gamma in [0.0, 0.5, 2.0, 5.0]:
            add(f"focal/{dtype}/{r}/gamma{gamma}", "sigmoid_focal", "sigmoid_focal", dtype, torch.randn(4, 5) * 2, sigmoid_focal, (torch.rand(4, 5) > 0.7).float(), {"reduction": r, "gamma": gamma, "alpha": 0.25}, r == "none")
        add(f"focal/{dtype}/{r}/alpha_off_soft", "sigmoid_focal", "sigmoid_focal", dtype, torch.randn(3, 4) * 2, sigmoid_focal, torch.rand(3, 4), {"reduction": r, "gamma": 2.0, "alpha": None}, r == "none")
        add(f"focal/{dtype}/{r}/alpha_negative", "sigmoid_focal", "sigmoid_focal", dtype, torch.randn(6), sigmoid_focal, (torch.rand(6) > 0.5).float(), {"reduction": r, "gamma": 1.0, "alpha": -1.0}, r == "none")
        add(f"focal/{dtype}/{r}/yolo_weight_pos", "sigmoid_focal", "sigmoid_focal", dtype, torch.randn(4, 3) * 2, sigmoid_focal, (torch.rand(4, 3) > 0.6).float(), {"reduction": r, "gamma": 1.5, "alpha": 0.25, "pos_weight": torch.rand(3) * 3 + 0.5, "weight": torch.rand(3) + 0.5}, r == "none")
        # Softmax focal
        add(f"sfocal/{dtype}/{r}/per_class_alpha", "softmax_focal", "softmax_focal", dtype, torch.randn(7, 4) * 2, softmax_focal, torch.tensor([0, 3, 1, -100, 2, 2, 3]), {"reduction": r, "gamma": 2.0, "alpha": torch.rand(4)}, r == "none", True)
        add(f"sfocal/{dtype}/{r}/gamma_half", "softmax_focal", "softmax_focal", dtype, torch.randn(5, 3) * 2, softmax_focal, torch.randint(0, 3, (5,)), {"reduction": r, "gamma": 0.5, "alpha": 0.5}, r == "none", True)
        # KL divergence
        for lt in [False, True]:
            tgt = probs(3, 4)
            add(f"kl/{dtype}/{r}/log_target_{lt}", "kl_div", "kl_div", dtype, F.log_softmax(torch.randn(3, 4), 1), kl, tgt.log() if lt else tgt, {"reduction": r, "log_target": lt}, r == "none")
    for lt in [False, True]:
        tgt = probs(3, 4)
        add(f"kl/{dtype}/batchmean/log_target_{lt}", "kl_div", "kl_div", dtype, F.log_softmax(torch.randn(3, 4), 1), kl, tgt.log() if lt else tgt, {"reduction": "batchmean", "log_target": lt})
    tgt = probs(2, 5)
    tgt[0, 1] = 0.0
    add(f"kl/{dtype}/zero_target", "kl_div", "kl_div", dtype, F.log_softmax(torch.randn(2, 5), 1), kl, tgt, {"reduction": "sum"})
    # Softmax, log-softmax, entropy
    for shape, dim in [((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 2, 3, 2), -2)]:
        x = torch.randn(*shape) * 3
        add(f"softmax/{dtype}/{shape}/{dim}", "softmax", "softmax", dtype, x, lambda x, t, o: torch.softmax(x, o["dim"]), None, {"dim": dim}, True)
        add(f"log_softmax/{dtype}/{shape}/{dim}", "softmax", "log_softmax", dtype, x, lambda x, t, o: torch.log_softmax(x, o["dim"]), None, {"dim": dim}, True)
        p = torch.softmax(torch.randn(*shape), dim)
        add(f"entropy/{dtype}/{shape}/{dim}", "entropy", "entropy", dtype, p, lambda x, t, o: torch.special.entr(x).sum(o["dim"]), None, {"dim": dim}, True)
    # Extreme logits: the f64 truth of what f32 must reach
    big = torch.tensor([1e4, -1e4, 5e3, -5e3, 88.8, -104.0, 30.0, -30.0, 0.0])
    add(f"stability/{dtype}/bcel", "stability", "bce_with_logits", dtype, big, bcel, torch.tensor([0.0, 1, 1, 0, 0, 1, 1, 0, 1]), {"reduction": "none"}, True)
    add(f"stability/{dtype}/bcel_soft_pw", "stability", "bce_with_logits", dtype, big, bcel, torch.tensor([0.3, 0.7, 0.5, 0.1, 0.9, 0.2, 1, 0, 0.5]), {"reduction": "sum", "pos_weight": torch.tensor(2.5)})
    add(f"stability/{dtype}/ce", "stability", "cross_entropy", dtype, torch.tensor([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4, -1e4 + 1], [3e3, 3e3, -3e3, 0.0]]), ce, torch.tensor([1, 3, 0]), {"reduction": "none", "label_smoothing": 0.1}, True, True)
    add(f"stability/{dtype}/ce_soft", "stability", "cross_entropy", dtype, torch.tensor([[1e4, -1e4, 0.0], [-5e3, 5e3, 1.0]]), ce, torch.tensor([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]]), {"reduction": "sum"})
    add(f"stability/{dtype}/log_softmax", "stability", "log_softmax", dtype, torch.tensor([[1e4, 0.0, -1e4], [-1e4, -1e4, -1e4]]), lambda x, t, o: torch.log_softmax(x, -1), None, {"dim": -1}, True)
    add(f"stability/{dtype}/sfocal", "stability", "softmax_focal", dtype, torch.tensor([[1e4, -1e4, 0.0], [50.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), softmax_focal, torch.tensor([0, 0, 2]), {"reduction": "none", "gamma": 2.0}, True, True)
    # Beyond PyTorch: saturated focal, where torchvision's linear form returns 0 loss or NaN gradients
    for gamma in [0.25, 0.5, 2.0]:
        add(f"beyond/{dtype}/focal_saturated_gamma{gamma}", "beyond_pytorch", "sigmoid_focal", dtype, torch.tensor([18.0, -18.0, 40.0, -40.0, 200.0, -200.0, 2.0, -3.0]), sigmoid_focal_logspace, torch.tensor([1.0, 0, 1, 0, 1, 0, 1, 0]), {"reduction": "none", "gamma": gamma, "alpha": 0.25}, True)
    # Edges: empty batches, everything ignored, unbatched
    add(f"edges/{dtype}/ce_empty_mean", "edges", "cross_entropy", dtype, torch.randn(0, 3), ce, torch.zeros(0, dtype=torch.long), {"reduction": "mean"}, False, True)
    add(f"edges/{dtype}/ce_weight_all_ignored_mean", "edges", "cross_entropy", dtype, torch.randn(2, 3), ce, torch.tensor([-100, -100]), {"reduction": "mean", "weight": torch.rand(3)}, False, True)
    add(f"edges/{dtype}/nll_all_ignored_sum", "edges", "nll", dtype, torch.randn(2, 3), nll, torch.tensor([1, 1]), {"reduction": "sum", "ignore_index": 1}, False, True)
    add(f"edges/{dtype}/ce_unbatched_smooth", "edges", "cross_entropy", dtype, torch.randn(4), ce, torch.tensor(2), {"reduction": "none", "label_smoothing": 0.3, "weight": torch.rand(4) + 0.1}, True, True)
    add(f"edges/{dtype}/ce_unbatched_probs", "edges", "cross_entropy", dtype, torch.randn(4), ce, probs(4), {"reduction": "mean"})
    add(f"edges/{dtype}/bce_empty_mean", "edges", "bce", dtype, torch.rand(0), bce, torch.rand(0), {"reduction": "mean"})
    add(f"edges/{dtype}/bcel_scalar", "edges", "bce_with_logits", dtype, torch.tensor(0.7), bcel, torch.tensor(1.0), {"reduction": "none"}, True)
    add(f"edges/{dtype}/bce_clamp", "edges", "bce", dtype, torch.tensor([0.0, 1.0, 0.0, 1.0, 1e-30, 1 - 1e-7]), bce, torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), {"reduction": "none"}, True)

# Requests PyTorch refuses, and malformed ones.
x33 = wire(torch.randn(3, 3).double())
add_error("err/ce_target_oob", {"op": "cross_entropy", "dtype": "f64", "input": x33, "target": {"shape": [3], "data": [0, 3, 1], "dtype": "i64"}})
add_error("err/nll_target_negative", {"op": "nll", "dtype": "f64", "input": x33, "target": {"shape": [3], "data": [0, -1, 1], "dtype": "i64"}})
add_error("err/sfocal_target_oob", {"op": "softmax_focal", "dtype": "f64", "input": x33, "target": {"shape": [3], "data": [0, 7, 1], "dtype": "i64"}})
add_error("err/ce_weight_len", {"op": "cross_entropy", "dtype": "f64", "input": x33, "target": {"shape": [3], "data": [0, 1, 1], "dtype": "i64"}, "options": {"weight": {"shape": [2], "data": [1.0, 2.0]}}})
add_error("err/ce_smoothing_negative", {"op": "cross_entropy", "dtype": "f64", "input": x33, "target": {"shape": [3], "data": [0, 1, 1], "dtype": "i64"}, "options": {"label_smoothing": -0.1}})
add_error("err/ce_probs_ignore_index", {"op": "cross_entropy", "dtype": "f64", "input": x33, "target": x33, "options": {"ignore_index": 1}})
add_error("err/ce_probs_shape", {"op": "cross_entropy", "dtype": "f64", "input": x33, "target": {"shape": [3, 2], "data": [0.5] * 6}})
add_error("err/ce_kdim_target", {"op": "cross_entropy", "dtype": "f64", "input": wire(torch.randn(2, 3, 4).double()), "target": {"shape": [2, 3], "data": [0] * 6, "dtype": "i64"}})
add_error("err/bce_input_above_1", {"op": "bce", "dtype": "f32", "input": {"shape": [2], "data": [0.2, 1.01]}, "target": {"shape": [2], "data": [0.0, 1.0]}})
add_error("err/bce_target_negative", {"op": "bce", "dtype": "f64", "input": {"shape": [2], "data": [0.2, 0.5]}, "target": {"shape": [2], "data": [-0.5, 1.0]}})
add_error("err/bce_input_nan", {"op": "bce", "dtype": "f64", "input": {"shape": [2], "data": [0.2, "nan"]}, "target": {"shape": [2], "data": [0.0, 1.0]}})
add_error("err/bce_weight_not_broadcastable", {"op": "bce", "dtype": "f64", "input": {"shape": [2, 2], "data": [0.2, 0.5, 0.5, 0.5]}, "target": {"shape": [2, 2], "data": [0.0, 1.0, 1.0, 0.0]}, "options": {"weight": {"shape": [3], "data": [1.0, 1.0, 1.0]}}})
add_error("err/bcel_pos_weight_not_broadcastable", {"op": "bce_with_logits", "dtype": "f64", "input": wire(torch.randn(4, 3).double()), "target": wire(torch.rand(4, 3).double()), "options": {"pos_weight": {"shape": [4], "data": [1.0] * 4}}})
add_error("err/focal_gamma_negative", {"op": "sigmoid_focal", "dtype": "f64", "input": {"shape": [1], "data": [0.5]}, "target": {"shape": [1], "data": [1.0]}, "options": {"gamma": -1.0}})
add_error("err/log_softmax_dim", {"op": "log_softmax", "dtype": "f64", "input": x33, "options": {"dim": -3}})
add_error("err/entropy_dim", {"op": "entropy", "dtype": "f64", "input": x33, "options": {"dim": 2}})
add_error("err/unknown_op", {"op": "hinge", "dtype": "f64", "input": x33})
add_error("err/unknown_option", {"op": "softmax", "dtype": "f64", "input": x33, "options": {"dim": 1, "temperature": 2.0}})
add_error("err/unknown_reduction", {"op": "bce_with_logits", "dtype": "f64", "input": x33, "target": x33, "options": {"reduction": "avg"}})
add_error("err/unknown_dtype", {"op": "softmax", "dtype": "f16", "input": x33})
add_error("err/data_length", {"op": "softmax", "dtype": "f64", "input": {"shape": [2, 2], "data": [1.0, 2.0, 3.0]}})
add_error("err/negative_dim", {"op": "softmax", "dtype": "f64", "input": {"shape": [-1], "data": []}})
add_error("err/too_many_elements", {"op": "softmax", "dtype": "f64", "input": {"shape": [4096, 4097], "data": []}})

write_jsonl(OUT, cases)
import torchvision
with open(OUT.replace(".jsonl", ".versions"), "w") as f:
    f.write(f"torch {torch.__version__}\ntorchvision {torchvision.__version__}\n")
print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)} with torch {torch.__version__}", file=sys.stderr)
