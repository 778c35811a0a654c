#!/usr/bin/env python3
"""Writes crates/losskit-cli/tests/fixtures/catalogue_cases.jsonl: eval-protocol cases of the ops
of docs/eval-protocol.md's "More tensors, more gradients", "The rest of PyTorch's losses" and
"Beyond PyTorch", with expected values from PyTorch 2.15, torchvision 0.29 and torchaudio 2.11.

    pip install torch torchvision torchaudio numpy
    python3 tools/golden/catalogue.py          # about 10 s on two cores

Each line: {"id", "group", "request", "expected", "rtol", "atol"} where expected is
{"output", "grad_input", "grad_<field>"...} (one gradient per floating-point tensor of the request
other than the target), or {"id", "group", "request", "expected": {"error": true},
"torch_error" | "spec_error"} for a request that PyTorch (or the protocol) refuses; torch_error is
PyTorch's message, recorded when the script runs.

f32 requests are answered with the f64 truth on the f32-rounded inputs (what losskit promises to
rtol 1e-4 / atol 1e-6); f64 requests with PyTorch's f64 result (to rtol 1e-9 / atol 1e-12).
torchaudio's rnnt_loss runs in f32 only: the rnnt cases hold to rnnt_reference below, the same
recursion in f64, which the script checks against torchaudio (in f32, on the same f32 values)
for every rnnt case it writes, and against every rnnt case of the team's public catalogue when
../shared/golden/catalogue-public.jsonl is there. `cross_entropy`'s softcap / z_loss and
`linear_cross_entropy` are computed from the protocol's definition with torch f64 autograd.

The script is deterministic (one seeded generator); it ends with a structural self-check of
every case (keys, shapes, gradients shaped like their tensors, unique ids).
"""
import json
import math
import os
import sys
import warnings

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio
import torchaudio.functional as AF
import torchvision
from torchvision.ops import complete_box_iou_loss, distance_box_iou_loss, generalized_box_iou_loss
from torchvision.ops.diou_loss import _diou_iou_loss

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wire import opt_wire, wire, write_jsonl  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "crates", "losskit-cli", "tests", "fixtures", "catalogue_cases.jsonl")
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
# The team's public cases, when a shared folder is at hand: checked here, never copied.
PUBLIC_CANDIDATES = [os.path.join(d, "golden", "catalogue-public.jsonl") for d in
                     [os.environ.get("LOSSKIT_SHARED", ""), os.path.join(ROOT, "shared"), os.path.join(ROOT, "..", "shared"),
                      os.path.join(ROOT, "..", "..", "shared")] if d]

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=UserWarning)   # PyTorch's notes on broadcast targets
GEN = torch.Generator().manual_seed(20261205)
F64, F32, I64 = torch.float64, torch.float32, torch.long
DTYPES = ["f64", "f32"]
REDS = ["none", "mean", "sum"]
TOL = {"f64": (1e-9, 1e-12), "f32": (1e-4, 1e-6)}
# Request fields: the floating-point ones get a grad_<field> (grad_input for input) in the answer.
GRAD_FIELDS = ["input", "input2", "positive", "negative", "var", "classifier", "bias"]
FIELD_ORDER = ["input", "input2", "positive", "negative", "var", "classifier", "bias", "target", "input_lengths", "target_lengths"]

cases = []


# ----------------------------------------------------------------------------- random inputs

def randn(*shape, scale=1.0):
    return torch.randn(tuple(shape), generator=GEN, dtype=F64) * scale


def rand(*shape, lo=0.0, hi=1.0):
    return lo + (hi - lo) * torch.rand(tuple(shape), generator=GEN, dtype=F64)


def randint(lo, hi, shape):
    return torch.randint(lo, hi, tuple(shape), generator=GEN, dtype=I64)


def signs(*shape):
    return (randint(0, 2, shape) * 2 - 1).to(F64)


def idx(*vals):
    """An i64 tensor: idx(1, 2) is [1, 2]; idx([[1, 2]]) keeps the nesting; idx(3).view(()) for 0-d."""
    return torch.tensor(vals[0] if len(vals) == 1 and isinstance(vals[0], list) else list(vals), dtype=I64)


def scalar_idx(v):
    return torch.tensor(v, dtype=I64)


def ft(x):
    return torch.tensor(x, dtype=F64)


def boxes(n, scale=4.0):
    """(n, 4) valid boxes x1 < x2, y1 < y2."""
    xy = rand(n, 2, hi=scale)
    wh = rand(n, 2, lo=0.2, hi=scale)
    return torch.cat([xy, xy + wh], dim=1)


# ----------------------------------------------------------------------------- case builders

def as_dtype(v, dtype):
    """A float tensor rounded to the request's precision, held in f64."""
    return v.to(F32).to(F64) if dtype == "f32" else v.to(F64)


def build(op, dtype, tensors, options):
    req = {"op": op, "dtype": dtype}
    t64 = {}
    for f in FIELD_ORDER:
        if f not in tensors:
            continue
        v = tensors[f]
        if v.dtype == I64:
            req[f] = wire(v, True)
            t64[f] = v
        else:
            r = as_dtype(v, dtype)
            req[f] = wire(r)
            t64[f] = r
    assert set(tensors) <= set(FIELD_ORDER), set(tensors) - set(FIELD_ORDER)
    o64 = None
    if options is not None:
        o64 = {k: (as_dtype(v, dtype) if isinstance(v, torch.Tensor) else v) for k, v in options.items()}
        req["options"] = opt_wire(o64)
    return req, t64, o64 or {}


def grad_key(f):
    return "grad_input" if f == "input" else "grad_" + f


def evaluate(fn, t64, o64, make_g=None):
    """Output, gradients and grad_output of fn on the request's f64 tensors; make_g(output) gives
    the grad_output tensor (or None: the gradient of sum(output))."""
    leaves = {f: t64[f].clone().requires_grad_(True) for f in GRAD_FIELDS if f in t64}
    out = fn({**t64, **leaves}, o64)
    g = make_g(out) if make_g else None
    obj = (out * g).sum() if g is not None else out.sum()
    if obj.requires_grad:
        obj.backward()
    grads = {grad_key(f): (leaf.grad if leaf.grad is not None else torch.zeros_like(leaf)) for f, leaf in leaves.items()}
    return out, grads, g


def add(cid, group, op, dtype, fn, tensors, options=None, grad_output=False, tol=None, note=None):
    """fn(t, o) -> output, with t the request's tensors in f64 (floating ones requiring grad).

    grad_output: False (d sum(output)), True (a random tensor shaped like the output) or
    "scalar" (a random 0-d one, for a reduced output)."""
    req, t64, o64 = build(op, dtype, tensors, options if options is not None else {})

    def make_g(out):
        assert grad_output != "scalar" or out.dim() == 0, cid
        return as_dtype(randn(*out.shape), dtype) if grad_output else None
    out, grads, g = evaluate(fn, t64, o64, make_g)
    if g is not None:
        req["grad_output"] = wire(g)
    expected = {"output": wire(out), **{k: wire(v) for k, v in grads.items()}}
    rtol, atol = tol or TOL[dtype]
    case = {"id": cid, "group": group, "request": req, "expected": expected, "rtol": rtol, "atol": atol}
    if note:
        case["note"] = note
    cases.append(case)
    return out


def add_error(cid, group, op, fn, tensors, options=None, dtype="f64", spec_error=None, extra=None):
    """A request that is refused. Without spec_error, PyTorch must raise on it, and its message
    is recorded as torch_error."""
    req, t64, o64 = build(op, dtype, tensors, options if options is not None else {})
    if extra:
        req.update(extra)
    case = {"id": cid, "group": group, "request": req, "expected": {"error": True}}
    if spec_error:
        case["spec_error"] = spec_error
    else:
        try:
            with quiet_stderr():
                fn(t64, o64)
        except Exception as e:  # noqa: BLE001 - any PyTorch refusal
            case["torch_error"] = str(e).strip().split("\n")[0]
        else:
            raise AssertionError(f"{cid}: PyTorch accepted the request")
    cases.append(case)


def red(o):
    return o.get("reduction", "mean")


class quiet_stderr:
    """Silences file descriptor 2 (torchaudio prints a C++ backtrace before some of its errors)."""
    def __enter__(self):
        sys.stderr.flush()
        self.saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *exc):
        os.dup2(self.saved, 2)
        os.close(self.saved)
        return False


# ----------------------------------------------------------------------------- PyTorch calls per op

def l1(t, o):
    return F.l1_loss(t["input"], t["target"], reduction=red(o))


def mse(t, o):
    return F.mse_loss(t["input"], t["target"], reduction=red(o))


def smooth_l1(t, o):
    return F.smooth_l1_loss(t["input"], t["target"], reduction=red(o), beta=o.get("beta", 1.0))


def huber(t, o):
    return F.huber_loss(t["input"], t["target"], reduction=red(o), delta=o.get("delta", 1.0))


def soft_margin(t, o):
    return F.soft_margin_loss(t["input"], t["target"], reduction=red(o))


def poisson_nll(t, o):
    return F.poisson_nll_loss(t["input"], t["target"], log_input=o.get("log_input", True), full=o.get("full", False),
                              eps=o.get("eps", 1e-8), reduction=red(o))


def gaussian_nll(t, o):
    return F.gaussian_nll_loss(t["input"], t["target"], t["var"], full=o.get("full", False), eps=o.get("eps", 1e-6), reduction=red(o))


def hinge_embedding(t, o):
    return F.hinge_embedding_loss(t["input"], t["target"], margin=o.get("margin", 1.0), reduction=red(o))


def multilabel_soft_margin(t, o):
    return F.multilabel_soft_margin_loss(t["input"], t["target"], weight=o.get("weight"), reduction=red(o))


def multilabel_margin(t, o):
    return F.multilabel_margin_loss(t["input"], t["target"], reduction=red(o))


def multi_margin(t, o):
    return F.multi_margin_loss(t["input"], t["target"], p=o.get("p", 1), margin=o.get("margin", 1.0), weight=o.get("weight"), reduction=red(o))


def margin_ranking(t, o):
    return F.margin_ranking_loss(t["input"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=red(o))


def cosine_embedding(t, o):
    return F.cosine_embedding_loss(t["input"], t["input2"], t["target"], margin=o.get("margin", 0.0), reduction=red(o))


def triplet_margin(t, o):
    return F.triplet_margin_loss(t["input"], t["positive"], t["negative"], margin=o.get("margin", 1.0), p=o.get("p", 2.0),
                                 eps=o.get("eps", 1e-6), swap=o.get("swap", False), reduction=red(o))


def cosine_distance(x, y):
    return 1.0 - F.cosine_similarity(x, y)


def triplet_margin_with_distance(t, o):
    dist = o.get("distance", "pairwise")
    fn = {"pairwise": F.pairwise_distance, "cosine": cosine_distance}[dist]
    return F.triplet_margin_with_distance_loss(t["input"], t["positive"], t["negative"], distance_function=fn,
                                               margin=o.get("margin", 1.0), swap=o.get("swap", False), reduction=red(o))


def ctc(t, o):
    return F.ctc_loss(t["input"], t["target"], t["input_lengths"], t["target_lengths"], blank=o.get("blank", 0),
                      reduction=red(o), zero_infinity=o.get("zero_infinity", False))


def box(fn):
    def call(t, o):
        return fn(t["input"], t["target"], reduction=red(o), eps=o.get("eps", 1e-7))
    return call


giou, diou, ciou = box(generalized_box_iou_loss), box(distance_box_iou_loss), box(complete_box_iou_loss)


def aspect_angle(w, h):
    """atan(w / h) with the gradient of the valid side at zero height: sign(w) pi/2 - h / w there
    (value +-pi/2, derivatives 0 and -1/w, the limits as h -> 0+ of atan's), and 0 without a
    gradient for a box of zero width and height, where torchvision's atan(0 / 0) is NaN."""
    flat, point = h == 0, (h == 0) & (w == 0)
    regular = torch.atan(w / torch.where(flat, torch.ones_like(h), h))
    limit = torch.sign(w) * (torch.pi / 2) - h / torch.where(w == 0, torch.ones_like(w), w)
    return torch.where(flat, torch.where(point, torch.zeros_like(w), limit), regular)


def ciou_defined(t, o):
    """torchvision's complete_box_iou_loss, its atan(w / h) replaced by aspect_angle: the same
    numbers wherever torchvision's are finite (checked below), the defined answer at zero height
    (docs/pytorch-semantics.md)."""
    b1, b2 = t["input"], t["target"]
    diou_loss, iou = _diou_iou_loss(b1, b2)
    (x1, y1, x2, y2), (u1, v1, u2, v2) = b1.unbind(-1), b2.unbind(-1)
    v = (4 / torch.pi ** 2) * torch.pow(aspect_angle(u2 - u1, v2 - v1) - aspect_angle(x2 - x1, y2 - y1), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + o.get("eps", 1e-7))
    loss = diou_loss + alpha * v
    r = red(o)
    return loss if r == "none" else loss.sum() if r == "sum" else loss.mean()


def ce_beyond_from_logits(logits, target, o):
    """cross_entropy with class indices plus the protocol's softcap and z_loss (docs/eval-protocol.md,
    "Beyond PyTorch"), in f64 autograd."""
    softcap = o.get("softcap")
    z = o.get("z_loss", 0.0) or 0.0
    w = o.get("weight")
    ii = o.get("ignore_index", -100)
    x = softcap * torch.tanh(logits / softcap) if softcap else logits
    ce = F.cross_entropy(x, target, weight=w, ignore_index=ii, label_smoothing=o.get("label_smoothing", 0.0), reduction="none")
    lse = torch.logsumexp(x, dim=0 if x.dim() == 1 else 1)
    keep = target != ii
    zt = torch.where(keep, z * lse * lse, torch.zeros_like(lse))
    r = red(o)
    if r == "none":
        return ce + zt
    if r == "sum":
        return ce.sum() + zt.sum()
    safe = torch.where(keep, target, torch.zeros_like(target))
    wt = (w[safe] if w is not None else torch.ones_like(lse)) * keep
    return ce.sum() / wt.sum() + zt.sum() / keep.sum()


def ce_beyond(t, o):
    return ce_beyond_from_logits(t["input"], t["target"], o)


def linear_ce(t, o):
    if t["input"].dim() != 2:
        raise ValueError("input must be (N, H)")
    return ce_beyond_from_logits(F.linear(t["input"], t["classifier"], t.get("bias")), t["target"], o)


# ----------------------------------------------------------------------------- RNN-T in f64

def rnnt_reference_one(lg, y, T, U, blank, clamp, fused):
    """One sequence: lg (T', U'+1, V) f64 logits, y its U labels. Returns (cost, grad of cost
    with respect to lg[:T, :U+1]), the gradient as torchaudio's CPU kernel defines it (its
    branch order included, which only matters for a label equal to blank)."""
    V = lg.shape[-1]
    lg = lg[:T, :U + 1]
    if fused:
        m = lg.max(-1, keepdims=True)
        denom = (m + np.log(np.exp(lg - m).sum(-1, keepdims=True)))[..., 0]
    else:
        denom = np.zeros(lg.shape[:2])
    lp = lg - denom[..., None]
    blk = lp[:, :, blank]
    emit = np.full((T, U + 1), -np.inf)
    for u in range(U):
        emit[:, u] = lp[:, u, y[u]]
    a = np.full((T, U + 1), -np.inf)
    a[0, 0] = 0.0
    for t in range(T):
        for u in range(U + 1):
            if t == 0 and u == 0:
                continue
            v = -np.inf
            if t > 0:
                v = np.logaddexp(v, a[t - 1, u] + blk[t - 1, u])
            if u > 0:
                v = np.logaddexp(v, a[t, u - 1] + emit[t, u - 1])
            a[t, u] = v
    b = np.full((T, U + 1), -np.inf)
    b[T - 1, U] = blk[T - 1, U]
    for t in range(T - 1, -1, -1):
        for u in range(U, -1, -1):
            if t == T - 1 and u == U:
                continue
            v = -np.inf
            if t < T - 1:
                v = np.logaddexp(v, b[t + 1, u] + blk[t, u])
            if u < U:
                v = np.logaddexp(v, b[t, u + 1] + emit[t, u])
            b[t, u] = v
    cost = -b[0, 0]
    g = np.zeros((T, U + 1, V))
    for t in range(T):
        for u in range(U + 1):
            base = lp[t, u] + a[t, u] + cost           # log(occupancy of (t, u) x p(d | t, u)) - log P
            g[t, u] = np.exp(base + b[t, u]) if fused else 0.0   # fused: softmax's share
            for d in range(V):
                if d == blank and t == T - 1 and u == U:
                    nxt = 0.0                           # the final blank
                elif t < T - 1 and d == blank:
                    nxt = b[t + 1, u]
                elif u < U and d == y[u]:
                    nxt = b[t, u + 1]
                else:
                    continue
                g[t, u, d] -= np.exp(base[d] + nxt)
            if clamp > 0:
                g[t, u] = np.clip(g[t, u], -clamp, clamp)
    return cost, g


def rnnt_reference(logits, targets, il, tl, blank, clamp, fused):
    """Per-sequence costs (N,) and gradients (N, T, U+1, V), f64 numpy."""
    N, _, _, V = logits.shape
    if blank < 0:
        blank += V
    costs = np.zeros(N)
    grads = np.zeros(logits.shape)
    for n in range(N):
        T, U = int(il[n]), int(tl[n])
        c, g = rnnt_reference_one(logits[n], targets[n], T, U, blank, clamp, fused)
        costs[n] = c
        grads[n, :T, :U + 1] = g
    return costs, grads


class RnntF64(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, targets, il, tl, blank, clamp, fused):
        costs, grads = rnnt_reference(logits.detach().numpy(), targets.numpy(), il.numpy(), tl.numpy(), blank, clamp, fused)
        ctx.save_for_backward(torch.from_numpy(grads))
        return torch.from_numpy(costs)

    @staticmethod
    def backward(ctx, dy):
        (g,) = ctx.saved_tensors
        return g * dy.view(-1, 1, 1, 1), None, None, None, None, None, None


def torchaudio_rnnt(t, o, reduction):
    i32 = torch.int32
    return AF.rnnt_loss(t["input"].to(F32), t["target"].to(i32), t["input_lengths"].to(i32), t["target_lengths"].to(i32),
                        blank=o.get("blank", -1), clamp=o.get("clamp", -1.0), reduction=reduction,
                        fused_log_softmax=o.get("fused_log_softmax", True))


RNNT_CHECKS = []


def rnnt(t, o):
    x = t["input"]
    # torchaudio's own checks (shapes, lengths, blank range) first, so errors are its errors.
    xa = x.detach().to(F32).requires_grad_(True)
    ta = torchaudio_rnnt({**t, "input": xa}, o, "none")
    ta.sum().backward()
    V = x.shape[-1]
    blank = o.get("blank", -1)
    out = RnntF64.apply(x, t["target"], t["input_lengths"], t["target_lengths"], blank, o.get("clamp", -1.0), o.get("fused_log_softmax", True))
    # The f64 recursion on the very f32 values torchaudio saw must agree with torchaudio.
    c32, g32 = rnnt_reference(x.detach().to(F32).to(F64).numpy(), t["target"].numpy(), t["input_lengths"].numpy(),
                              t["target_lengths"].numpy(), blank if blank >= 0 else blank + V, o.get("clamp", -1.0), o.get("fused_log_softmax", True))
    ec = np.abs(c32 - ta.detach().double().numpy()) / np.maximum(1.0, np.abs(c32))
    eg = np.abs(g32 - xa.grad.double().numpy())
    RNNT_CHECKS.append((float(ec.max(initial=0)), float(eg.max(initial=0))))
    assert ec.max(initial=0) < 2e-6 and eg.max(initial=0) < 2e-5, (ec.max(initial=0), eg.max(initial=0))
    r = red(o)
    return {"none": out, "mean": out.mean(), "sum": out.sum()}[r]


def rnnt_torchaudio_only(t, o):
    """For error cases: the call torchaudio refuses."""
    return torchaudio_rnnt(t, o, red(o))


# ============================================================================= the cases

def reductions(fn_case):
    """fn_case(dtype, reduction) for every dtype and reduction."""
    for dt in DTYPES:
        for r in REDS:
            fn_case(dt, r)


# ---- l1, mse ----------------------------------------------------------------
for op, fn in [("l1", l1), ("mse", mse)]:
    shapes = {"none": (5,), "mean": (3, 4), "sum": (2, 3, 2)}
    reductions(lambda dt, r: add(f"{op}/{dt}/{r}/base", op, op, dt, fn, {"input": randn(*shapes[r]), "target": randn(*shapes[r])},
                                 {"reduction": r}, grad_output=(r == "none")))
    # broadcasting: input (3, 1) against target (1, 4); target bigger than input; a 0-d target
    reductions(lambda dt, r: add(f"{op}/{dt}/{r}/broadcast_3x1_1x4", op, op, dt, fn, {"input": randn(3, 1), "target": randn(1, 4)},
                                 {"reduction": r}, grad_output=(r == "none")))
    for dt in DTYPES:
        add(f"{op}/{dt}/mean/broadcast_target_2x3_input_3", op, op, dt, fn, {"input": randn(3), "target": randn(2, 3)}, {"reduction": "mean"})
        add(f"{op}/{dt}/sum/broadcast_target_0d", op, op, dt, fn, {"input": randn(2, 3), "target": randn()}, {"reduction": "sum"})
    add(f"{op}/f64/none/scalar", op, op, "f64", fn, {"input": randn(), "target": randn()}, {"reduction": "none"}, grad_output=True)
    add(f"{op}/f64/mean/scalar_grad_output", op, op, "f64", fn, {"input": randn(4, 3), "target": randn(4, 3)}, {"reduction": "mean"}, grad_output="scalar")
    add(f"{op}/f64/default_reduction", op, op, "f64", fn, {"input": randn(4), "target": randn(4)}, {})
    for r in REDS:
        add(f"{op}/f64/{r}/empty", op, op, "f64", fn, {"input": randn(0), "target": randn(0)}, {"reduction": r}, grad_output=(r == "none"))
    add(f"{op}/f64/mean/empty_2x0", op, op, "f64", fn, {"input": randn(2, 0), "target": randn(2, 0)}, {"reduction": "mean"})
    add(f"{op}/f64/none/ties", op, op, "f64", fn, {"input": ft([0.0, 1.5, -2.0, 3.0, 0.25, 0.0]), "target": ft([0.0, 1.5, -2.0, 2.0, 0.5, -1e-300])},
        {"reduction": "none"})
    add(f"{op}/f32/none/large", op, op, "f32", fn, {"input": ft([1e3, -2e3, 1e4, 0.5]), "target": ft([-1e3, 1e3, 1e4 + 1, -0.5])}, {"reduction": "none"}, grad_output=True)
    add_error(f"{op}/error/shape", op, op, fn, {"input": randn(3, 4), "target": randn(3, 5)}, {"reduction": "mean"})
    add_error(f"{op}/error/shape_no_broadcast", op, op, fn, {"input": randn(2, 3), "target": randn(2, 2)}, {"reduction": "sum"})
add_error("l1/error/option_delta", "l1", "l1", None, {"input": randn(3), "target": randn(3)}, {"reduction": "mean", "delta": 1.0}, spec_error="delta is not an option of l1")
add_error("mse/error/field_var", "mse", "mse", None, {"input": randn(3), "target": randn(3), "var": rand(3)}, {"reduction": "mean"}, spec_error="var is not a field of mse")

# ---- smooth_l1, huber -------------------------------------------------------
for op, fn, key, vals in [("smooth_l1", smooth_l1, "beta", [None, 0.5, 2.0, 0.0, 1.0, 0.25]),
                          ("huber", huber, "delta", [None, 0.5, 2.5, 1.0, 0.1, 3.0])]:
    shapes = {"none": (5,), "mean": (3, 4), "sum": (2, 3, 2)}
    k = iter(range(100))

    def base_case(dt, r, op=op, fn=fn, key=key, vals=vals, shapes=shapes, k=k):
        v = vals[next(k) % len(vals)]
        o = {"reduction": r}
        if v is not None:
            o[key] = v
        add(f"{op}/{dt}/{r}/{key}{'_default' if v is None else v}", op, op, dt, fn, {"input": randn(*shapes[r], scale=2.0), "target": randn(*shapes[r])},
            o, grad_output=(r == "none"))
    reductions(base_case)
    for dt in DTYPES:
        for v in ([0.5, 0.0, 2.0] if op == "smooth_l1" else [0.5, 2.0]):
            # differences exactly at +-v, inside, outside, and 0 (the kinks)
            d = ft([v, -v, 0.0, v / 2, 3 * v + 1, -(3 * v + 1), 1e-3])
            tg = randn(7).to(F32).to(F64) if dt == "f32" else ft([0.5] * 7)
            add(f"{op}/{dt}/none/kinks_{key}{v}", op, op, dt, fn, {"input": tg + d, "target": tg}, {"reduction": "none", key: v}, grad_output=True)
        add(f"{op}/{dt}/mean/large_{key}1", op, op, dt, fn, {"input": randn(3, 4, scale=1000.0), "target": randn(3, 4)}, {"reduction": "mean", key: 1.0})
        add(f"{op}/{dt}/sum/broadcast", op, op, dt, fn, {"input": randn(2, 1, 3), "target": randn(4, 1)}, {"reduction": "sum", key: 0.7})
    add(f"{op}/f64/none/empty", op, op, "f64", fn, {"input": randn(0, 2), "target": randn(0, 2)}, {"reduction": "none"}, grad_output=True)
    add(f"{op}/f64/mean/empty", op, op, "f64", fn, {"input": randn(0), "target": randn(0)}, {"reduction": "mean"})
    add(f"{op}/f64/sum/tiny_{key}", op, op, "f64", fn, {"input": randn(6, scale=1e-3), "target": randn(6, scale=1e-3)}, {"reduction": "sum", key: 1e-3})
    add_error(f"{op}/error/shape", op, op, fn, {"input": randn(3, 4), "target": randn(3, 5)}, {"reduction": "mean"})
add(f"smooth_l1/f64/none/beta0_is_l1", "smooth_l1", "smooth_l1", "f64", smooth_l1, {"input": ft([0.0, 1.0, -2.0, 0.5]), "target": ft([0.0, 0.0, -2.0, 1.0])},
    {"reduction": "none", "beta": 0.0}, grad_output=True)
add_error("smooth_l1/error/beta_negative", "smooth_l1", "smooth_l1", smooth_l1, {"input": randn(4), "target": randn(4)}, {"reduction": "mean", "beta": -0.5})
add_error("smooth_l1/error/beta_negative_tiny", "smooth_l1", "smooth_l1", smooth_l1, {"input": randn(4), "target": randn(4)}, {"reduction": "none", "beta": -1e-12})
add_error("huber/error/delta_zero", "huber", "huber", huber, {"input": randn(4), "target": randn(4)}, {"reduction": "mean", "delta": 0.0})
add_error("huber/error/delta_negative", "huber", "huber", huber, {"input": randn(4), "target": randn(4)}, {"reduction": "sum", "delta": -1.0})
add_error("huber/error/option_beta", "huber", "huber", None, {"input": randn(4), "target": randn(4)}, {"reduction": "sum", "beta": 1.0}, spec_error="beta is not an option of huber")

# ---- soft_margin ------------------------------------------------------------
shapes = {"none": (5,), "mean": (3, 4), "sum": (2, 3, 2)}
reductions(lambda dt, r: add(f"soft_margin/{dt}/{r}/base", "soft_margin", "soft_margin", dt, soft_margin,
                             {"input": randn(*shapes[r], scale=2.0), "target": signs(*shapes[r])}, {"reduction": r}, grad_output=(r == "none")))
# (|x| stays below 709: past it PyTorch's float64 log1p(exp(-t x)) overflows too, and the case would pin inf)
big_x = ft([100.0, -100.0, 89.0, 88.0, 1000.0, -1000.0, 30.0, -30.0, 700.0, -500.0, 0.0])
big_t = ft([-1.0, 1.0, -1.0, -1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
for dt in DTYPES:
    # PyTorch's float32 log1p(exp(-t x)) overflows to inf (gradient NaN) from t x < -88.7; the truth is finite.
    add(f"soft_margin/{dt}/none/large_logits", "soft_margin", "soft_margin", dt, soft_margin, {"input": big_x, "target": big_t}, {"reduction": "none"}, grad_output=True)
    add(f"soft_margin/{dt}/mean/large_logits", "soft_margin", "soft_margin", dt, soft_margin, {"input": big_x, "target": big_t}, {"reduction": "mean"})
    add(f"soft_margin/{dt}/sum/scalar", "soft_margin", "soft_margin", dt, soft_margin, {"input": randn(), "target": ft(-1.0)}, {"reduction": "sum"})
add("soft_margin/f64/none/scalar", "soft_margin", "soft_margin", "f64", soft_margin, {"input": randn(), "target": ft(1.0)}, {"reduction": "none"}, grad_output=True)
add("soft_margin/f64/mean/scalar_grad_output", "soft_margin", "soft_margin", "f64", soft_margin, {"input": randn(2, 3), "target": signs(2, 3)}, {"reduction": "mean"}, grad_output="scalar")
add("soft_margin/f64/mean/empty", "soft_margin", "soft_margin", "f64", soft_margin, {"input": randn(0), "target": randn(0)}, {"reduction": "mean"})
add("soft_margin/f64/sum/empty", "soft_margin", "soft_margin", "f64", soft_margin, {"input": randn(0, 3), "target": randn(0, 3)}, {"reduction": "sum"})
add("soft_margin/f64/none/empty", "soft_margin", "soft_margin", "f64", soft_margin, {"input": randn(2, 0), "target": randn(2, 0)}, {"reduction": "none"}, grad_output=True)
add_error("soft_margin/error/shape", "soft_margin", "soft_margin", soft_margin, {"input": randn(3, 4), "target": signs(3, 5)}, {"reduction": "mean"})
add_error("soft_margin/error/input_smaller_than_target", "soft_margin", "soft_margin", soft_margin, {"input": randn(1, 2), "target": signs(2, 2)}, {"reduction": "none"})

# ---- poisson_nll ------------------------------------------------------------
shapes = {"none": (6,), "mean": (3, 4), "sum": (2, 2, 3)}
opts_cycle = iter([{}, {"log_input": False}, {"full": True}, {"log_input": False, "full": True, "eps": 1e-4},
                   {"log_input": True, "full": False, "eps": 1e-3}, {"log_input": False, "eps": 1e-8}])


def poisson_base(dt, r):
    o = next(opts_cycle)
    log_input = o.get("log_input", True)
    x = randn(*shapes[r]) if log_input else rand(*shapes[r], lo=0.05, hi=3.0)
    y = torch.poisson(rand(*shapes[r], lo=0.2, hi=4.0), generator=GEN)
    tag = "_".join(f"{k}{v}" for k, v in o.items()) or "defaults"
    add(f"poisson_nll/{dt}/{r}/{tag}", "poisson_nll", "poisson_nll", dt, poisson_nll, {"input": x, "target": y}, {"reduction": r, **o}, grad_output=(r == "none"))


reductions(poisson_base)
y01 = ft([0.0, 0.5, 1.0, 1.0 + 1e-9, 1.5, 2.0, 7.0, 30.0])
for dt in DTYPES:
    for log_input in [True, False]:
        x = randn(8) if log_input else rand(8, lo=0.1, hi=5.0)
        for r in REDS:
            # the Stirling term is added only where target > 1
            add(f"poisson_nll/{dt}/{r}/full_targets_0_to_30/log_input{log_input}", "poisson_nll", "poisson_nll", dt, poisson_nll,
                {"input": x, "target": y01}, {"reduction": r, "log_input": log_input, "full": True}, grad_output=(r == "none"))
    add(f"poisson_nll/{dt}/none/rate_zero_eps", "poisson_nll", "poisson_nll", dt, poisson_nll, {"input": ft([0.0, 0.0, 1e-9, 2.0]), "target": ft([0.0, 2.0, 1.0, 0.0])},
        {"reduction": "none", "log_input": False, "eps": 1e-3}, grad_output=True)
    add(f"poisson_nll/{dt}/sum/broadcast", "poisson_nll", "poisson_nll", dt, poisson_nll, {"input": randn(2, 1), "target": torch.poisson(rand(1, 3, hi=3.0), generator=GEN)},
        {"reduction": "sum"})
add("poisson_nll/f64/none/rate_tiny_eps_default", "poisson_nll", "poisson_nll", "f64", poisson_nll, {"input": ft([0.0, 1e-10, 1e-6]), "target": ft([1.0, 1.0, 3.0])},
    {"reduction": "none", "log_input": False}, grad_output=True)
add("poisson_nll/f64/mean/empty", "poisson_nll", "poisson_nll", "f64", poisson_nll, {"input": randn(0), "target": randn(0)}, {"reduction": "mean"})
add("poisson_nll/f64/sum/empty", "poisson_nll", "poisson_nll", "f64", poisson_nll, {"input": randn(0, 2), "target": randn(0, 2)}, {"reduction": "sum", "full": True})
add("poisson_nll/f64/none/scalar", "poisson_nll", "poisson_nll", "f64", poisson_nll, {"input": randn(), "target": ft(3.0)}, {"reduction": "none", "full": True}, grad_output=True)
add_error("poisson_nll/error/shape", "poisson_nll", "poisson_nll", poisson_nll, {"input": randn(3, 4), "target": rand(3, 5)}, {"reduction": "mean"})

# ---- gaussian_nll -----------------------------------------------------------
gforms = [("same", (4, 3), (4, 3)), ("fewer", (4, 3), (4,)), ("last1", (4, 3), (4, 1)), ("same_1d", (5,), (5,)), ("fewer_0d", (5,), ()),
          ("last1_3d", (2, 3, 2), (2, 3, 1))]
gopts = [{}, {"full": True}, {"eps": 1e-3}, {"full": True, "eps": 1e-2}, {"full": False, "eps": 1e-6}, {"full": True, "eps": 1e-4}]
gi = iter(range(100))


def gaussian_base(dt, r):
    j = next(gi)
    form, ishape, vshape = gforms[j % len(gforms)]
    o = gopts[j % len(gopts)]
    add(f"gaussian_nll/{dt}/{r}/{form}", "gaussian_nll", "gaussian_nll", dt, gaussian_nll,
        {"input": randn(*ishape), "target": randn(*ishape), "var": rand(*vshape, lo=0.1, hi=2.0)}, {"reduction": r, **o}, grad_output=(r == "none"))


reductions(gaussian_base)
for form, ishape, vshape in gforms + [("first1", (2, 3), (1, 3)), ("middle1", (2, 3, 2), (2, 1, 2)), ("var_1", (5,), (1,))]:
    add(f"gaussian_nll/f64/none/forms/{form}", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll,
        {"input": randn(*ishape), "target": randn(*ishape), "var": rand(*vshape, lo=0.1, hi=2.0)}, {"reduction": "none"}, grad_output=True)
    add(f"gaussian_nll/f32/mean/forms/{form}", "gaussian_nll", "gaussian_nll", "f32", gaussian_nll,
        {"input": randn(*ishape), "target": randn(*ishape), "var": rand(*vshape, lo=0.1, hi=2.0)}, {"reduction": "mean", "full": True})
for dt in DTYPES:
    # var below eps is clamped without a gradient of the clamp: grad_var is taken at eps, not 0
    add(f"gaussian_nll/{dt}/none/var_clamped_eps1e-3", "gaussian_nll", "gaussian_nll", dt, gaussian_nll,
        {"input": ft([1.0, 1.0, 0.5, -1.0, 2.0, 0.0]), "target": ft([0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), "var": ft([0.0, 1e-4, 1e-3, 2e-3, 0.5, 0.0])},
        {"reduction": "none", "eps": 1e-3}, grad_output=True)
    add(f"gaussian_nll/{dt}/sum/var_clamped_default_eps", "gaussian_nll", "gaussian_nll", dt, gaussian_nll,
        {"input": ft([0.1, -0.2, 0.0]), "target": ft([0.0, 0.0, 0.0]), "var": ft([0.0, 1e-7, 1e-6])}, {"reduction": "sum"})
    add(f"gaussian_nll/{dt}/mean/homoscedastic_fewer_clamped", "gaussian_nll", "gaussian_nll", dt, gaussian_nll,
        {"input": randn(3, 4), "target": randn(3, 4), "var": ft([0.0, 0.5, 1e-8])}, {"reduction": "mean", "eps": 1e-2})
add("gaussian_nll/f64/mean/scalar_grad_output", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll,
    {"input": randn(3, 2), "target": randn(3, 2), "var": rand(3, 1, lo=0.2)}, {"reduction": "mean"}, grad_output="scalar")
add("gaussian_nll/f64/mean/empty", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll, {"input": randn(0), "target": randn(0), "var": rand(0)}, {"reduction": "mean"})
add("gaussian_nll/f64/sum/empty_fewer", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll, {"input": randn(0, 3), "target": randn(0, 3), "var": rand(0)}, {"reduction": "sum"})
add("gaussian_nll/f64/none/empty", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll, {"input": randn(2, 0), "target": randn(2, 0), "var": rand(2, 0)},
    {"reduction": "none"}, grad_output=True)
add("gaussian_nll/f64/none/large_residual_small_var", "gaussian_nll", "gaussian_nll", "f64", gaussian_nll,
    {"input": ft([1e3, -1e3, 1e-3]), "target": ft([0.0, 0.0, 0.0]), "var": ft([1e-3, 1e3, 1e-8])}, {"reduction": "none", "eps": 1e-9}, grad_output=True)
add_error("gaussian_nll/error/negative_var", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(2, 3), "target": randn(2, 3), "var": ft([[1.0, -0.1, 1.0], [1.0, 1.0, 1.0]])}, {"reduction": "mean"})
add_error("gaussian_nll/error/negative_var_fewer", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(2, 3), "target": randn(2, 3), "var": ft([1.0, -1e-9])}, {"reduction": "none"})
add_error("gaussian_nll/error/var_size", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(4, 3), "target": randn(4, 3), "var": rand(4, 2)}, {"reduction": "mean"})
add_error("gaussian_nll/error/var_two_ones", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(2, 3, 4), "target": randn(2, 3, 4), "var": rand(2, 1, 1)}, {"reduction": "mean"})
add_error("gaussian_nll/error/var_bigger", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(2, 1), "target": randn(2, 1), "var": rand(2, 3)}, {"reduction": "mean"})
add_error("gaussian_nll/error/var_more_dims", "gaussian_nll", "gaussian_nll", gaussian_nll, {"input": randn(3), "target": randn(3), "var": rand(3, 1)}, {"reduction": "mean"})
add_error("gaussian_nll/error/missing_var", "gaussian_nll", "gaussian_nll", None, {"input": randn(3), "target": randn(3)}, {"reduction": "mean"}, spec_error="gaussian_nll needs var")

# ---- hinge_embedding --------------------------------------------------------
shapes = {"none": (6,), "mean": (3, 4), "sum": (2, 2, 3)}
margins = iter([None, 0.5, 2.0, 1.0, 0.0, -0.5])


def hinge_base(dt, r):
    m = next(margins)
    o = {"reduction": r} if m is None else {"reduction": r, "margin": m}
    add(f"hinge_embedding/{dt}/{r}/margin{'_default' if m is None else m}", "hinge_embedding", "hinge_embedding", dt, hinge_embedding,
        {"input": rand(*shapes[r], hi=3.0) * signs(*shapes[r]), "target": signs(*shapes[r])}, o, grad_output=(r == "none"))


reductions(hinge_base)
for dt in DTYPES:
    # x exactly at the margin for target -1 (no gradient there), inside and outside
    add(f"hinge_embedding/{dt}/none/kinks", "hinge_embedding", "hinge_embedding", dt, hinge_embedding,
        {"input": ft([1.0, 0.5, 2.0, -0.5, 1.0, 0.0, 0.0]), "target": ft([-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, -1.0])}, {"reduction": "none", "margin": 1.0}, grad_output=True)
    add(f"hinge_embedding/{dt}/mean/broadcast_target_row", "hinge_embedding", "hinge_embedding", dt, hinge_embedding,
        {"input": randn(3, 4), "target": signs(1, 4)}, {"reduction": "mean", "margin": 0.7})
add("hinge_embedding/f64/none/scalar", "hinge_embedding", "hinge_embedding", "f64", hinge_embedding, {"input": ft(0.25), "target": ft(-1.0)}, {"reduction": "none"}, grad_output=True)
add("hinge_embedding/f64/mean/empty", "hinge_embedding", "hinge_embedding", "f64", hinge_embedding, {"input": randn(0), "target": randn(0)}, {"reduction": "mean"})
add("hinge_embedding/f64/sum/empty", "hinge_embedding", "hinge_embedding", "f64", hinge_embedding, {"input": randn(0, 2), "target": randn(0, 2)}, {"reduction": "sum"})
add_error("hinge_embedding/error/shape", "hinge_embedding", "hinge_embedding", hinge_embedding, {"input": randn(3, 4), "target": signs(3)}, {"reduction": "mean"})
add_error("hinge_embedding/error/shape2", "hinge_embedding", "hinge_embedding", hinge_embedding, {"input": randn(2, 3), "target": signs(2, 2)}, {"reduction": "none"})

# ---- multilabel_soft_margin -------------------------------------------------
shapes = {"none": (4, 5), "mean": (3, 7), "sum": (2, 4)}
reductions(lambda dt, r: add(f"multilabel_soft_margin/{dt}/{r}/base", "multilabel_soft_margin", "multilabel_soft_margin", dt, multilabel_soft_margin,
                             {"input": randn(*shapes[r], scale=2.0), "target": (rand(*shapes[r]) > 0.5).to(F64)}, {"reduction": r}, grad_output=(r == "none")))
reductions(lambda dt, r: add(f"multilabel_soft_margin/{dt}/{r}/weight_soft_target", "multilabel_soft_margin", "multilabel_soft_margin", dt, multilabel_soft_margin,
                             {"input": randn(*shapes[r], scale=2.0), "target": rand(*shapes[r])}, {"reduction": r, "weight": rand(shapes[r][1], lo=0.1, hi=2.0)},
                             grad_output=(r == "none")))
for dt in DTYPES:
    add(f"multilabel_soft_margin/{dt}/none/saturated", "multilabel_soft_margin", "multilabel_soft_margin", dt, multilabel_soft_margin,
        {"input": ft([[100.0, -100.0, 1000.0, -1000.0], [40.0, -40.0, 0.0, 1e4]]), "target": ft([[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 0.5, 0.0]])},
        {"reduction": "none"}, grad_output=True)
add("multilabel_soft_margin/f64/mean/one_class", "multilabel_soft_margin", "multilabel_soft_margin", "f64", multilabel_soft_margin,
    {"input": randn(5, 1), "target": rand(5, 1)}, {"reduction": "mean", "weight": ft([2.0])})
add("multilabel_soft_margin/f64/mean/empty", "multilabel_soft_margin", "multilabel_soft_margin", "f64", multilabel_soft_margin,
    {"input": randn(0, 4), "target": rand(0, 4)}, {"reduction": "mean"})
add("multilabel_soft_margin/f64/sum/empty", "multilabel_soft_margin", "multilabel_soft_margin", "f64", multilabel_soft_margin,
    {"input": randn(0, 4), "target": rand(0, 4)}, {"reduction": "sum", "weight": rand(4)})
add("multilabel_soft_margin/f64/none/empty", "multilabel_soft_margin", "multilabel_soft_margin", "f64", multilabel_soft_margin,
    {"input": randn(0, 3), "target": rand(0, 3)}, {"reduction": "none"}, grad_output=True)
add_error("multilabel_soft_margin/error/weight_len", "multilabel_soft_margin", "multilabel_soft_margin", multilabel_soft_margin,
          {"input": randn(3, 4), "target": rand(3, 4)}, {"reduction": "mean", "weight": rand(3)})
add_error("multilabel_soft_margin/error/target_shape", "multilabel_soft_margin", "multilabel_soft_margin", multilabel_soft_margin,
          {"input": randn(2, 3), "target": rand(2, 4)}, {"reduction": "mean"})


# ---- multilabel_margin ------------------------------------------------------
def mlm_target(n, c):
    """Rows of distinct labels, padded with -1 (then arbitrary in-range values that are ignored)."""
    rows = []
    for _ in range(n):
        k = int(randint(0, c + 1, (1,)))
        perm = torch.randperm(c, generator=GEN)[:k].tolist()
        pad = [-1] + [int(v) for v in randint(-1, c, (c,))] if k < c else []
        rows.append((perm + pad)[:c])
    return idx(rows)


shapes = {"none": (4, 5), "mean": (3, 6), "sum": (5, 3)}
reductions(lambda dt, r: add(f"multilabel_margin/{dt}/{r}/base", "multilabel_margin", "multilabel_margin", dt, multilabel_margin,
                             {"input": randn(*shapes[r]), "target": mlm_target(*shapes[r])}, {"reduction": r}, grad_output=(r == "none")))
for dt in DTYPES:
    for r in REDS:
        add(f"multilabel_margin/{dt}/{r}/unbatched", "multilabel_margin", "multilabel_margin", dt, multilabel_margin,
            {"input": randn(5), "target": idx(3, 0, -1, 4, 2)}, {"reduction": r}, grad_output=(r == "none"))
    # margins exactly 0 (no gradient), a row of only padding, a row with every class, values after -1
    add(f"multilabel_margin/{dt}/none/kinks_padding", "multilabel_margin", "multilabel_margin", dt, multilabel_margin,
        {"input": ft([[1.0, 0.0, 0.5, 0.0], [0.3, 0.3, 0.3, 0.3], [0.1, 0.2, 0.3, 0.4], [2.0, -1.0, 0.5, 0.0]]),
         "target": idx([[0, -1, 1, 1], [-1, 0, 1, 2], [3, 2, 1, 0], [2, 0, -1, 3]])}, {"reduction": "none"}, grad_output=True)
add("multilabel_margin/f64/none/duplicate_labels", "multilabel_margin", "multilabel_margin", "f64", multilabel_margin,
    {"input": ft([[1.0, 0.5, 0.2], [0.1, 0.9, -0.3]]), "target": idx([[0, 0, -1], [1, 2, 1]])}, {"reduction": "none"}, grad_output=True)
add("multilabel_margin/f32/mean/all_padding", "multilabel_margin", "multilabel_margin", "f32", multilabel_margin,
    {"input": randn(3, 5), "target": idx([[-1, 0, 1, 2, 3]] * 3)}, {"reduction": "mean"})
add("multilabel_margin/f64/sum/one_class", "multilabel_margin", "multilabel_margin", "f64", multilabel_margin,
    {"input": randn(3, 1), "target": idx([[0], [-1], [0]])}, {"reduction": "sum"})
add("multilabel_margin/f64/none/empty", "multilabel_margin", "multilabel_margin", "f64", multilabel_margin,
    {"input": randn(0, 4), "target": torch.zeros(0, 4, dtype=I64)}, {"reduction": "none"}, grad_output=True)
add_error("multilabel_margin/error/target_oob", "multilabel_margin", "multilabel_margin", multilabel_margin, {"input": randn(2, 4), "target": idx([[0, 4, -1, 0], [1, -1, 0, 0]])}, {"reduction": "mean"})
add_error("multilabel_margin/error/target_minus2", "multilabel_margin", "multilabel_margin", multilabel_margin, {"input": randn(2, 3), "target": idx([[-2, -1, 0], [1, -1, 0]])}, {"reduction": "sum"})
add_error("multilabel_margin/error/oob_after_padding", "multilabel_margin", "multilabel_margin", multilabel_margin, {"input": randn(1, 3), "target": idx([[0, -1, 9]])}, {"reduction": "none"})
add_error("multilabel_margin/error/target_shape", "multilabel_margin", "multilabel_margin", multilabel_margin, {"input": randn(2, 3), "target": idx([[0, -1], [1, -1]])}, {"reduction": "mean"})
add_error("multilabel_margin/error/input_3d", "multilabel_margin", "multilabel_margin", multilabel_margin, {"input": randn(1, 2, 3), "target": torch.zeros(1, 2, 3, dtype=I64)}, {"reduction": "mean"})
add_error("multilabel_margin/error/target_float", "multilabel_margin", "multilabel_margin", None, {"input": randn(2, 3), "target": ft([[0.0, -1.0, 0.0], [1.0, -1.0, 0.0]])},
          {"reduction": "mean"}, spec_error="multilabel_margin's target is an i64 tensor")

# ---- multi_margin -----------------------------------------------------------
mm_opts = iter([{}, {"p": 2}, {"margin": 0.5}, {"p": 2, "margin": 2.0, "weight": True}, {"weight": True}, {"p": 1, "margin": 1.0}])
shapes = {"none": (5, 4), "mean": (3, 6), "sum": (4, 3)}


def mm_base(dt, r):
    o = dict(next(mm_opts))
    n, c = shapes[r]
    if o.get("weight"):
        o["weight"] = rand(c, lo=0.1, hi=2.0)
    tag = "_".join(k if k == "weight" else f"{k}{v}" for k, v in o.items()) or "defaults"
    add(f"multi_margin/{dt}/{r}/{tag}", "multi_margin", "multi_margin", dt, multi_margin, {"input": randn(n, c), "target": randint(0, c, (n,))},
        {"reduction": r, **o}, grad_output=(r == "none"))


reductions(mm_base)
for dt in DTYPES:
    for r in REDS:
        add(f"multi_margin/{dt}/{r}/unbatched_p2_weight", "multi_margin", "multi_margin", dt, multi_margin, {"input": randn(6), "target": scalar_idx(4)},
            {"reduction": r, "p": 2, "weight": rand(6, lo=0.1, hi=2.0)}, grad_output=(r == "none"))
    add(f"multi_margin/{dt}/none/kinks", "multi_margin", "multi_margin", dt, multi_margin,
        {"input": ft([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0], [2.0, 1.0, 1.0]]), "target": idx(0, 1, 0)}, {"reduction": "none"}, grad_output=True)
    add(f"multi_margin/{dt}/mean/margin_zero_negative", "multi_margin", "multi_margin", dt, multi_margin,
        {"input": randn(4, 3), "target": randint(0, 3, (4,))}, {"reduction": "mean", "margin": 0.0})
add("multi_margin/f64/sum/margin_negative_p2", "multi_margin", "multi_margin", "f64", multi_margin, {"input": randn(4, 3), "target": randint(0, 3, (4,))},
    {"reduction": "sum", "margin": -0.3, "p": 2})
add("multi_margin/f64/none/one_class", "multi_margin", "multi_margin", "f64", multi_margin, {"input": randn(3, 1), "target": idx(0, 0, 0)}, {"reduction": "none"}, grad_output=True)
add("multi_margin/f64/none/empty", "multi_margin", "multi_margin", "f64", multi_margin, {"input": randn(0, 4), "target": torch.zeros(0, dtype=I64)}, {"reduction": "none"}, grad_output=True)
add_error("multi_margin/error/p3", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 1, 2)}, {"reduction": "mean", "p": 3})
add_error("multi_margin/error/p0", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 1, 2)}, {"reduction": "mean", "p": 0})
add_error("multi_margin/error/target_oob", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 4, 2)}, {"reduction": "mean"})
add_error("multi_margin/error/target_negative", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, -1, 2)}, {"reduction": "sum"})
add_error("multi_margin/error/target_size", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 1)}, {"reduction": "mean"})
add_error("multi_margin/error/target_2d", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx([[0], [1], [2]])}, {"reduction": "mean"})
add_error("multi_margin/error/weight_len", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 1, 2)}, {"reduction": "mean", "weight": rand(3)})
add_error("multi_margin/error/weight_2d", "multi_margin", "multi_margin", multi_margin, {"input": randn(3, 4), "target": idx(0, 1, 2)}, {"reduction": "mean", "weight": rand(1, 4)})
add_error("multi_margin/error/input_3d", "multi_margin", "multi_margin", multi_margin, {"input": randn(1, 2, 3), "target": idx(0)}, {"reduction": "mean"})
add_error("multi_margin/error/unbatched_target_oob", "multi_margin", "multi_margin", multi_margin, {"input": randn(4), "target": scalar_idx(4)}, {"reduction": "none"})

# ---- margin_ranking ---------------------------------------------------------
shapes = {"none": (6,), "mean": (3, 4), "sum": (8,)}
mr_margins = iter([None, 0.5, 0.0, 1.5, -0.3, 0.2])


def mr_base(dt, r):
    m = next(mr_margins)
    o = {"reduction": r} if m is None else {"reduction": r, "margin": m}
    add(f"margin_ranking/{dt}/{r}/margin{'_default' if m is None else m}", "margin_ranking", "margin_ranking", dt, margin_ranking,
        {"input": randn(*shapes[r]), "input2": randn(*shapes[r]), "target": signs(*shapes[r])}, o, grad_output=(r == "none"))


reductions(mr_base)
for dt in DTYPES:
    # -t (x1 - x2) + margin exactly 0 (no gradient), ties x1 == x2
    add(f"margin_ranking/{dt}/none/kinks", "margin_ranking", "margin_ranking", dt, margin_ranking,
        {"input": ft([1.0, 1.0, 2.0, 1.0, 0.5]), "input2": ft([0.5, 1.5, 0.0, 1.0, 0.5]), "target": ft([1.0, -1.0, 1.0, 1.0, -1.0])},
        {"reduction": "none", "margin": 0.5}, grad_output=True)
    add(f"margin_ranking/{dt}/mean/broadcast", "margin_ranking", "margin_ranking", dt, margin_ranking,
        {"input": randn(2, 1), "input2": randn(1, 3), "target": signs(2, 3)}, {"reduction": "mean", "margin": 0.1})
add("margin_ranking/f64/none/scalar", "margin_ranking", "margin_ranking", "f64", margin_ranking, {"input": randn(), "input2": randn(), "target": ft(-1.0)},
    {"reduction": "none", "margin": 0.3}, grad_output=True)
add("margin_ranking/f64/sum/scalar_grad_output", "margin_ranking", "margin_ranking", "f64", margin_ranking, {"input": randn(5), "input2": randn(5), "target": signs(5)},
    {"reduction": "sum", "margin": 0.3}, grad_output="scalar")
add("margin_ranking/f64/mean/empty", "margin_ranking", "margin_ranking", "f64", margin_ranking, {"input": randn(0), "input2": randn(0), "target": randn(0)}, {"reduction": "mean"})
add("margin_ranking/f64/none/empty", "margin_ranking", "margin_ranking", "f64", margin_ranking, {"input": randn(0), "input2": randn(0), "target": randn(0)},
    {"reduction": "none"}, grad_output=True)
add_error("margin_ranking/error/ndim", "margin_ranking", "margin_ranking", margin_ranking, {"input": randn(2, 3), "input2": randn(3), "target": signs(3)}, {"reduction": "mean"})
add_error("margin_ranking/error/target_ndim", "margin_ranking", "margin_ranking", margin_ranking, {"input": randn(3), "input2": randn(3), "target": signs(1, 3)}, {"reduction": "mean"})
add_error("margin_ranking/error/size", "margin_ranking", "margin_ranking", margin_ranking, {"input": randn(2), "input2": randn(3), "target": signs(2)}, {"reduction": "sum"})
add_error("margin_ranking/error/missing_input2", "margin_ranking", "margin_ranking", None, {"input": randn(3), "target": signs(3)}, {"reduction": "mean"},
          spec_error="margin_ranking needs input2")

# ---- cosine_embedding -------------------------------------------------------
shapes = {"none": (5, 4), "mean": (3, 8), "sum": (6, 2)}
ce_margins = iter([None, 0.3, -0.4, 0.0, 0.8, 0.5])


def cos_base(dt, r):
    m = next(ce_margins)
    o = {"reduction": r} if m is None else {"reduction": r, "margin": m}
    n, d = shapes[r]
    add(f"cosine_embedding/{dt}/{r}/margin{'_default' if m is None else m}", "cosine_embedding", "cosine_embedding", dt, cosine_embedding,
        {"input": randn(n, d), "input2": randn(n, d), "target": signs(n)}, o, grad_output=(r == "none"))


reductions(cos_base)
for dt in DTYPES:
    for r in REDS:
        add(f"cosine_embedding/{dt}/{r}/unbatched", "cosine_embedding", "cosine_embedding", dt, cosine_embedding,
            {"input": randn(4), "input2": randn(4), "target": ft(-1.0 if r == "sum" else 1.0)}, {"reduction": r, "margin": -0.2}, grad_output=(r == "none"))
    # opposite, parallel, orthogonal pairs
    add(f"cosine_embedding/{dt}/none/aligned_opposite", "cosine_embedding", "cosine_embedding", dt, cosine_embedding,
        {"input": ft([[1.0, 2.0], [1.0, 2.0], [3.0, 0.0], [1.0, 1.0]]), "input2": ft([[2.0, 4.0], [-1.0, -2.0], [0.0, 5.0], [-2.0, -2.0]]),
         "target": ft([1.0, -1.0, -1.0, 1.0])}, {"reduction": "none", "margin": -0.5}, grad_output=True)
# zero vectors: the 1e-12 added to the squared norms keeps the cosine finite (f64 only: the gradients are ~1e6)
add("cosine_embedding/f64/none/zero_vectors", "cosine_embedding", "cosine_embedding", "f64", cosine_embedding,
    {"input": ft([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), "input2": ft([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0]]),
     "target": ft([1.0, -1.0, -1.0, 1.0])}, {"reduction": "none", "margin": -0.5}, grad_output=True)
add("cosine_embedding/f64/none/identical", "cosine_embedding", "cosine_embedding", "f64", cosine_embedding,
    {"input": ft([[1.0, 2.0], [3.0, 4.0], [1e-3, 1e-3]]), "input2": ft([[1.0, 2.0], [3.0, 4.0], [1e-3, 1e-3]]), "target": ft([1.0, -1.0, 1.0])},
    {"reduction": "none"}, grad_output=True)
add("cosine_embedding/f64/mean/scalar_grad_output", "cosine_embedding", "cosine_embedding", "f64", cosine_embedding,
    {"input": randn(3, 4), "input2": randn(3, 4), "target": signs(3)}, {"reduction": "mean", "margin": 0.1}, grad_output="scalar")
add("cosine_embedding/f64/mean/empty", "cosine_embedding", "cosine_embedding", "f64", cosine_embedding,
    {"input": randn(0, 3), "input2": randn(0, 3), "target": randn(0)}, {"reduction": "mean"})
add("cosine_embedding/f64/none/empty", "cosine_embedding", "cosine_embedding", "f64", cosine_embedding,
    {"input": randn(0, 3), "input2": randn(0, 3), "target": randn(0)}, {"reduction": "none"}, grad_output=True)
add_error("cosine_embedding/error/target_1d_for_1d", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(4), "input2": randn(4), "target": ft([1.0])}, {"reduction": "mean"})
add_error("cosine_embedding/error/target_0d_for_2d", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(3, 4), "input2": randn(3, 4), "target": ft(1.0)}, {"reduction": "mean"})
add_error("cosine_embedding/error/target_2d", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(3, 4), "input2": randn(3, 4), "target": signs(3, 1)}, {"reduction": "mean"})
add_error("cosine_embedding/error/input_3d", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(2, 2, 2), "input2": randn(2, 2, 2), "target": signs(2)}, {"reduction": "mean"})
add_error("cosine_embedding/error/batch_mismatch", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(4, 2), "input2": randn(3, 2), "target": signs(4)}, {"reduction": "none"})
add_error("cosine_embedding/error/target_len", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(4, 2), "input2": randn(4, 2), "target": signs(3)}, {"reduction": "none"})
add_error("cosine_embedding/error/ndim_mismatch", "cosine_embedding", "cosine_embedding", cosine_embedding, {"input": randn(2), "input2": randn(4, 2), "target": signs(4)}, {"reduction": "none"})

# ---- triplet_margin ---------------------------------------------------------
shapes = {"none": (4, 5), "mean": (3, 3), "sum": (6, 2)}
tm_opts = iter([{}, {"swap": True}, {"p": 1.0}, {"margin": 0.5, "p": 3.0}, {"eps": 1e-3, "margin": 2.0}, {"p": 1.5, "swap": True, "eps": 0.0}])


def trip_base(dt, r):
    o = next(tm_opts)
    tag = "_".join(f"{k}{v}" for k, v in o.items()) or "defaults"
    n, d = shapes[r]
    add(f"triplet_margin/{dt}/{r}/{tag}", "triplet_margin", "triplet_margin", dt, triplet_margin,
        {"input": randn(n, d), "positive": randn(n, d), "negative": randn(n, d)}, {"reduction": r, **o}, grad_output=(r == "none"))


reductions(trip_base)
for dt in DTYPES:
    for r in REDS:
        add(f"triplet_margin/{dt}/{r}/unbatched", "triplet_margin", "triplet_margin", dt, triplet_margin,
            {"input": randn(5), "positive": randn(5), "negative": randn(5)}, {"reduction": r, "margin": 2.0, "p": 2.0}, grad_output=(r == "none"))
    for swap in [False, True]:
        a = randn(4, 3)
        add(f"triplet_margin/{dt}/none/swap_matters_{swap}", "triplet_margin", "triplet_margin", dt, triplet_margin,
            {"input": a, "positive": a + randn(4, 3, scale=1.5), "negative": a + randn(4, 3, scale=0.5)}, {"reduction": "none", "swap": swap, "margin": 2.0}, grad_output=True)
    for p in [1.0, 2.0, 3.0]:
        # anchor == positive: the distance is |eps| * D^(1/p) with eps = 1e-6, or 0 (and no gradient) with eps = 0
        for eps in [1e-6, 0.0]:
            add(f"triplet_margin/{dt}/none/identical_points_p{p}_eps{eps}", "triplet_margin", "triplet_margin", dt, triplet_margin,
                {"input": ft([[0.0, 0.0], [1.0, -2.0]]), "positive": ft([[0.0, 0.0], [1.0, -2.0]]), "negative": ft([[0.5, 0.0], [1.0, 2.0]])},
                {"reduction": "none", "p": p, "eps": eps}, grad_output=True)
    # margin + d(a,p) - d(a,n) exactly 0 (no gradient); swap with d(a,n) == d(p,n) (a tie: the gradient is split in halves)
    add(f"triplet_margin/{dt}/none/kink_and_swap_tie", "triplet_margin", "triplet_margin", dt, triplet_margin,
        {"input": ft([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]), "positive": ft([[1.0, 0.0], [0.0, -1.0], [0.0, 0.0]]), "negative": ft([[2.0, 0.0], [2.0, 0.0], [2.0, 0.0]])},
        {"reduction": "none", "margin": 1.0, "eps": 0.0, "swap": True}, grad_output=True)
add("triplet_margin/f64/mean/scalar_grad_output", "triplet_margin", "triplet_margin", "f64", triplet_margin,
    {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)}, {"reduction": "mean", "margin": 2.0}, grad_output="scalar")
add("triplet_margin/f64/sum/p_inf_like_large_p", "triplet_margin", "triplet_margin", "f64", triplet_margin,
    {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)}, {"reduction": "sum", "p": 7.0, "margin": 1.5})
add("triplet_margin/f64/mean/empty", "triplet_margin", "triplet_margin", "f64", triplet_margin,
    {"input": randn(0, 3), "positive": randn(0, 3), "negative": randn(0, 3)}, {"reduction": "mean"})
add("triplet_margin/f64/none/empty", "triplet_margin", "triplet_margin", "f64", triplet_margin,
    {"input": randn(0, 3), "positive": randn(0, 3), "negative": randn(0, 3)}, {"reduction": "none"}, grad_output=True)
add_error("triplet_margin/error/margin_zero", "triplet_margin", "triplet_margin", triplet_margin, {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)},
          {"reduction": "mean", "margin": 0.0})
add_error("triplet_margin/error/margin_negative", "triplet_margin", "triplet_margin", triplet_margin, {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)},
          {"reduction": "none", "margin": -1.0})
add_error("triplet_margin/error/ndim", "triplet_margin", "triplet_margin", triplet_margin, {"input": randn(3, 4), "positive": randn(4), "negative": randn(3, 4)}, {"reduction": "mean"})
add_error("triplet_margin/error/dim_size", "triplet_margin", "triplet_margin", triplet_margin, {"input": randn(3, 4), "positive": randn(3, 5), "negative": randn(3, 4)}, {"reduction": "mean"})
add_error("triplet_margin/error/field_input2", "triplet_margin", "triplet_margin", None, {"input": randn(3), "positive": randn(3), "negative": randn(3), "input2": randn(3)},
          {"reduction": "mean"}, spec_error="input2 is not a field of triplet_margin")
add_error("triplet_margin/error/option_distance", "triplet_margin", "triplet_margin", None, {"input": randn(3), "positive": randn(3), "negative": randn(3)},
          {"reduction": "mean", "distance": "cosine"}, spec_error="distance is an option of triplet_margin_with_distance only")

# ---- triplet_margin_with_distance -------------------------------------------
OPW = "triplet_margin_with_distance"
shapes = {"none": (4, 5), "mean": (3, 3), "sum": (5, 2)}
twd_opts = iter([{}, {"distance": "cosine"}, {"distance": "pairwise", "swap": True}, {"distance": "cosine", "margin": 0.3, "swap": True},
                 {"margin": 2.0}, {"distance": "cosine", "margin": 1.0, "swap": False}])


def twd_base(dt, r):
    o = next(twd_opts)
    tag = "_".join(f"{k}{v}" for k, v in o.items()) or "defaults"
    n, d = shapes[r]
    add(f"{OPW}/{dt}/{r}/{tag}", OPW, OPW, dt, triplet_margin_with_distance,
        {"input": randn(n, d), "positive": randn(n, d), "negative": randn(n, d)}, {"reduction": r, **o}, grad_output=(r == "none"))


reductions(twd_base)
for dt in DTYPES:
    for dist in ["pairwise", "cosine"]:
        for r in REDS:
            add(f"{OPW}/{dt}/{r}/{dist}_swap_margin1.5", OPW, OPW, dt, triplet_margin_with_distance,
                {"input": randn(4, 3), "positive": randn(4, 3), "negative": randn(4, 3)}, {"reduction": r, "distance": dist, "swap": True, "margin": 1.5},
                grad_output=(r == "none"))
    add(f"{OPW}/{dt}/none/pairwise_unbatched", OPW, OPW, dt, triplet_margin_with_distance,
        {"input": randn(5), "positive": randn(5), "negative": randn(5)}, {"reduction": "none", "distance": "pairwise", "margin": 3.0}, grad_output=True)
    # cosine: a zero vector (cosine_similarity clamps each norm at 1e-8), a swap tie, an exact kink
    add(f"{OPW}/{dt}/none/cosine_edges", OPW, OPW, dt, triplet_margin_with_distance,
        {"input": ft([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 1.0]]), "positive": ft([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [1.0, 1.0]]),
         "negative": ft([[2.0, 0.0], [0.0, 1.0], [0.0, -2.0], [2.0, 2.0]])}, {"reduction": "none", "distance": "cosine", "swap": True, "margin": 1.0}, grad_output=True)
    add(f"{OPW}/{dt}/none/pairwise_identical", OPW, OPW, dt, triplet_margin_with_distance,
        {"input": ft([[0.0, 0.0], [1.0, 2.0]]), "positive": ft([[0.0, 0.0], [1.0, 2.0]]), "negative": ft([[0.5, 0.0], [1.0, 2.0]])},
        {"reduction": "none", "swap": True}, grad_output=True)
add(f"{OPW}/f64/mean/scalar_grad_output", OPW, OPW, "f64", triplet_margin_with_distance,
    {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)}, {"reduction": "mean", "distance": "cosine", "margin": 0.5}, grad_output="scalar")
add(f"{OPW}/f64/mean/empty", OPW, OPW, "f64", triplet_margin_with_distance,
    {"input": randn(0, 3), "positive": randn(0, 3), "negative": randn(0, 3)}, {"reduction": "mean"})
add(f"{OPW}/f64/sum/empty_cosine", OPW, OPW, "f64", triplet_margin_with_distance,
    {"input": randn(0, 3), "positive": randn(0, 3), "negative": randn(0, 3)}, {"reduction": "sum", "distance": "cosine"})
add_error(f"{OPW}/error/margin_zero", OPW, OPW, triplet_margin_with_distance, {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)}, {"reduction": "mean", "margin": 0.0})
add_error(f"{OPW}/error/margin_negative_cosine", OPW, OPW, triplet_margin_with_distance, {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(3, 4)},
          {"reduction": "mean", "margin": -0.5, "distance": "cosine"})
add_error(f"{OPW}/error/ndim", OPW, OPW, triplet_margin_with_distance, {"input": randn(3, 4), "positive": randn(3, 4), "negative": randn(4)}, {"reduction": "mean"})
add_error(f"{OPW}/error/distance_name", OPW, OPW, None, {"input": randn(2, 3), "positive": randn(2, 3), "negative": randn(2, 3)}, {"reduction": "mean", "distance": "euclidean"},
          spec_error='distance is "pairwise" or "cosine"')
add_error(f"{OPW}/error/option_p", OPW, OPW, None, {"input": randn(2, 3), "positive": randn(2, 3), "negative": randn(2, 3)}, {"reduction": "mean", "p": 1.0},
          spec_error="p is not an option of triplet_margin_with_distance")


# ---- ctc --------------------------------------------------------------------
def logp(*shape, scale=2.0):
    return F.log_softmax(randn(*shape, scale=scale), dim=-1)


def ctc_targets(n, s, c, blank, lengths, concat=False, allow_repeats=True):
    labels = [x for x in range(c) if x != blank]
    rows = []
    for i in range(n):
        row = [labels[int(j)] for j in randint(0, len(labels), (s,))]
        if not allow_repeats:
            for k in range(1, s):
                if row[k] == row[k - 1]:
                    row[k] = labels[(labels.index(row[k]) + 1) % len(labels)]
        rows.append(row)
    if concat:
        return idx([v for row, L in zip(rows, lengths) for v in row[:L]])
    return idx(rows)


def ctc_case(cid, dt, T, N, C, S, il, tl, o, concat=False, grad_output=False, tol=None, note=None, x=None):
    blank = o.get("blank", 0)
    x = logp(T, N, C) if x is None else x
    tg = ctc_targets(N, S, C, blank, tl, concat)
    add(cid, "ctc", "ctc", dt, ctc, {"input": x, "target": tg, "input_lengths": idx(il), "target_lengths": idx(tl)}, o, grad_output=grad_output, tol=tol, note=note)


ctc_opts = iter([{}, {"blank": 3}, {"zero_infinity": True}, {"blank": 2, "zero_infinity": False}, {}, {"blank": 5, "zero_infinity": True}])
for dt in DTYPES:
    for r in REDS:
        o = {"reduction": r, **next(ctc_opts)}
        C = 6
        ctc_case(f"ctc/{dt}/{r}/padded", dt, 8, 3, C, 3, [8, 6, 7], [3, 1, 2], o, grad_output=(r == "none"))
        ctc_case(f"ctc/{dt}/{r}/concatenated", dt, 10, 2, C, 4, [10, 7], [4, 2], o, concat=True, grad_output=(r == "none"))
        # unbatched (T, C): lengths 0-d, and of shape (1)
        add(f"ctc/{dt}/{r}/unbatched_0d_lengths", "ctc", "ctc", dt, ctc, {"input": logp(7, 5), "target": idx(1, 3, 3), "input_lengths": scalar_idx(7),
                                                                         "target_lengths": scalar_idx(3)}, {"reduction": r, "blank": 0}, grad_output=(r == "none"))
        add(f"ctc/{dt}/{r}/unbatched_len1_input_shorter", "ctc", "ctc", dt, ctc, {"input": logp(7, 5), "target": idx(4, 2), "input_lengths": idx(5),
                                                                                 "target_lengths": idx(2)}, {"reduction": r, "blank": 1}, grad_output=(r == "none"))
        # a sequence that cannot fit (inf, NaN gradient over its frames; 0 with zero_infinity)
        for zi in [False, True]:
            ctc_case(f"ctc/{dt}/{r}/infeasible_zero_infinity{zi}", dt, 6, 3, 4, 3, [6, 2, 5], [3, 3, 2], {"reduction": r, "zero_infinity": zi}, grad_output=(r == "none"))
    # repeated labels need a blank between them: T = L + repeats fits exactly, one frame fewer does not
    add(f"ctc/{dt}/none/repeats_tight_and_infeasible", "ctc", "ctc", dt, ctc,
        {"input": logp(6, 3, 4), "target": idx([[1, 1, 1], [2, 2, 3], [1, 1, 1]]), "input_lengths": idx(5, 4, 4), "target_lengths": idx(3, 3, 3)},
        {"reduction": "none"}, grad_output=True)
    add(f"ctc/{dt}/mean/zero_target_lengths", "ctc", "ctc", dt, ctc,
        {"input": logp(6, 3, 4), "target": idx([[1, 2], [3, 3], [2, 1]]), "input_lengths": idx(6, 4, 5), "target_lengths": idx(0, 2, 0)}, {"reduction": "mean"})
    add(f"ctc/{dt}/mean/all_zero_target_lengths_empty_targets", "ctc", "ctc", dt, ctc,
        {"input": logp(5, 2, 3), "target": torch.zeros(0, dtype=I64), "input_lengths": idx(5, 3), "target_lengths": idx(0, 0)}, {"reduction": "mean"})
    add(f"ctc/{dt}/sum/input_length_zero", "ctc", "ctc", dt, ctc,
        {"input": logp(4, 3, 3), "target": idx([[1], [2], [1]]), "input_lengths": idx(0, 0, 4), "target_lengths": idx(0, 1, 1)}, {"reduction": "none"}, grad_output=True)
    add(f"ctc/{dt}/sum/blank_last_repeats", "ctc", "ctc", dt, ctc,
        {"input": logp(9, 2, 5), "target": idx([[0, 0, 1, 1], [3, 2, 3, 0]]), "input_lengths": idx(9, 8), "target_lengths": idx(4, 3)}, {"reduction": "sum", "blank": 4})
add("ctc/f64/mean/scalar_grad_output", "ctc", "ctc", "f64", ctc,
    {"input": logp(6, 2, 4), "target": idx([[1, 2, 3], [3, 1, 1]]), "input_lengths": idx(6, 6), "target_lengths": idx(3, 2)}, {"reduction": "mean"}, grad_output="scalar")
# the gradient is exp(log_probs) - occupation / p even when the inputs are not log-probabilities
for r in REDS:
    add(f"ctc/f64/{r}/unnormalised_inputs", "ctc", "ctc", "f64", ctc,
        {"input": randn(6, 2, 4), "target": idx([[1, 2, 3], [3, 1, 1]]), "input_lengths": idx(6, 5), "target_lengths": idx(3, 2)}, {"reduction": r}, grad_output=(r == "none"))
add("ctc/f64/mean/zero_infinity_all_infeasible", "ctc", "ctc", "f64", ctc,
    {"input": logp(3, 2, 4), "target": idx([[1, 2, 3], [3, 3, 1]]), "input_lengths": idx(2, 3), "target_lengths": idx(3, 3)}, {"reduction": "mean", "zero_infinity": True})
add("ctc/f64/sum/peaked_log_probs", "ctc", "ctc", "f64", ctc,
    {"input": logp(8, 2, 5, scale=30.0), "target": idx([[1, 2, 3], [4, 4, 2]]), "input_lengths": idx(8, 8), "target_lengths": idx(3, 3)}, {"reduction": "sum"})
# a long one: T = 200
ctc_case("ctc/f64/mean/long_T200", "f64", 200, 2, 8, 60, [200, 150], [60, 35], {"reduction": "mean"})
ctc_case("ctc/f64/none/long_T120_blank7", "f64", 120, 1, 8, 40, [120], [40], {"reduction": "none", "blank": 7}, grad_output=True)
ctc_case("ctc/f32/none/T30", "f32", 30, 2, 6, 10, [30, 24], [10, 7], {"reduction": "none"}, grad_output=True, tol=(1e-4, 5e-5),
         note="f32 ctc with T=30: atol widened to 5e-5 (PyTorch's own float32 gradient exp(lp) - exp(log_alpha + log_beta + nll - lp) "
              "misses the f64 truth by up to 1e-5 here)")


def ctc_err(cid, x, tg, il, tl, o):
    add_error(cid, "ctc", "ctc", ctc, {"input": x, "target": tg, "input_lengths": il, "target_lengths": tl}, {"reduction": "mean", **o})


ctc_err("ctc/error/input_lengths_size", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6, 6), idx(3, 2), {})
ctc_err("ctc/error/target_lengths_size", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(3), {})
ctc_err("ctc/error/input_length_gt_T", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(7, 6), idx(3, 2), {})
ctc_err("ctc/error/input_length_negative", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(-1, 6), idx(3, 2), {})
ctc_err("ctc/error/target_length_negative", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(3, -1), {})
ctc_err("ctc/error/target_length_gt_S", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(4, 2), {})
ctc_err("ctc/error/concatenated_short", logp(6, 2, 4), idx(1, 2, 3, 1), idx(6, 6), idx(3, 2), {})
ctc_err("ctc/error/concatenated_long", logp(6, 2, 4), idx(1, 2, 3, 1, 1, 2), idx(6, 6), idx(3, 2), {})
ctc_err("ctc/error/target_rows", logp(6, 2, 4), idx([[1, 2, 3]]), idx(6, 6), idx(3, 2), {})
ctc_err("ctc/error/blank_oob", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(3, 2), {"blank": 4})
ctc_err("ctc/error/blank_negative", logp(6, 2, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(3, 2), {"blank": -1})
ctc_err("ctc/error/empty_batch", logp(6, 0, 4), torch.zeros(0, 3, dtype=I64), torch.zeros(0, dtype=I64), torch.zeros(0, dtype=I64), {})
ctc_err("ctc/error/T_zero", logp(0, 2, 4), idx([[1, 2], [1, 1]]), idx(0, 0), idx(0, 0), {})
ctc_err("ctc/error/unbatched_lengths_size2", logp(6, 4), idx(1, 2), idx(6, 6), idx(1, 1), {})
ctc_err("ctc/error/input_4d", randn(6, 2, 1, 4), idx([[1, 2, 3], [1, 1, 2]]), idx(6, 6), idx(3, 2), {})
add_error("ctc/error/lengths_float", "ctc", "ctc", None, {"input": logp(6, 2, 4), "target": idx([[1, 2, 3], [1, 1, 2]]), "input_lengths": ft([6.0, 6.0]), "target_lengths": idx(3, 2)},
          {"reduction": "mean"}, spec_error="input_lengths is an i64 tensor")
add_error("ctc/error/missing_lengths", "ctc", "ctc", None, {"input": logp(6, 2, 4), "target": idx([[1, 2, 3], [1, 1, 2]])}, {"reduction": "mean"},
          spec_error="ctc needs input_lengths and target_lengths")


# ---- rnnt -------------------------------------------------------------------
def rnnt_labels(n, u, v, blank):
    blank = blank % v
    labels = [x for x in range(v) if x != blank]
    return idx([[labels[int(j)] for j in randint(0, len(labels), (u,))] for _ in range(n)]) if u > 0 else torch.zeros(n, 0, dtype=I64)


def rnnt_case(cid, dt, N, T, U, V, il, tl, o, grad_output=False, scale=1.5, x=None, tol=None, note=None):
    blank = o.get("blank", -1)
    x = randn(N, T, U + 1, V, scale=scale) if x is None else x
    add(cid, "rnnt", "rnnt", dt, rnnt, {"input": x, "target": rnnt_labels(N, U, V, blank), "input_lengths": idx(il), "target_lengths": idx(tl)}, o,
        grad_output=grad_output, tol=tol, note=note)


rnnt_opts = iter([{}, {"blank": 0}, {"clamp": 0.05}, {"fused_log_softmax": False}, {"blank": 2, "clamp": 0.3}, {"blank": -1, "clamp": -1.0, "fused_log_softmax": True}])
for dt in DTYPES:
    for r in REDS:
        o = {"reduction": r, **next(rnnt_opts)}
        tag = "_".join(f"{k}{v}" for k, v in o.items() if k != "reduction") or "defaults"
        x = None
        if o.get("fused_log_softmax") is False:
            x = F.log_softmax(randn(2, 4, 3, 5, scale=1.5), dim=-1)
        rnnt_case(f"rnnt/{dt}/{r}/{tag}", dt, 2, 4, 2, 5, [4, 3], [2, 1], o, grad_output=(r == "none"), x=x)
        rnnt_case(f"rnnt/{dt}/{r}/varied_lengths", dt, 3, 5, 3, 4, [5, 2, 4], [1, 3, 0], {"reduction": r, "blank": 1}, grad_output=(r == "none"))
    for blank in [0, 3, -1, -2, -5]:
        rnnt_case(f"rnnt/{dt}/none/blank{blank}", dt, 2, 3, 2, 5, [3, 3], [2, 2], {"reduction": "none", "blank": blank}, grad_output=True)
    for clamp in [0.0, 0.01, 0.2, 1.0]:
        rnnt_case(f"rnnt/{dt}/sum/clamp{clamp}", dt, 2, 4, 3, 4, [4, 2], [3, 2], {"reduction": "sum", "clamp": clamp})
    rnnt_case(f"rnnt/{dt}/mean/clamp0.05_mean_scales_after", dt, 3, 3, 2, 4, [3, 3, 2], [2, 1, 2], {"reduction": "mean", "clamp": 0.05})
    # fused_log_softmax false: the logits are taken as log-probabilities, normalised or not
    for norm in [True, False]:
        x = randn(2, 3, 3, 4)
        if norm:
            x = F.log_softmax(x, dim=-1)
        rnnt_case(f"rnnt/{dt}/none/unfused_{'log_softmax' if norm else 'raw'}_inputs", dt, 2, 3, 2, 4, [3, 2], [2, 2],
                  {"reduction": "none", "fused_log_softmax": False, "blank": 0}, grad_output=True, x=x)
    rnnt_case(f"rnnt/{dt}/sum/unfused_clamp", dt, 2, 3, 2, 4, [3, 3], [2, 1], {"reduction": "sum", "fused_log_softmax": False, "clamp": 0.1},
              x=F.log_softmax(randn(2, 3, 3, 4), dim=-1))
    rnnt_case(f"rnnt/{dt}/mean/U0", dt, 2, 3, 0, 4, [3, 2], [0, 0], {"reduction": "mean"})
    rnnt_case(f"rnnt/{dt}/mean/labels_more_than_frames", dt, 1, 2, 5, 4, [2], [5], {"reduction": "mean"})
    rnnt_case(f"rnnt/{dt}/none/T1", dt, 2, 1, 2, 3, [1, 1], [2, 0], {"reduction": "none"}, grad_output=True)
    rnnt_case(f"rnnt/{dt}/sum/large_logits", dt, 1, 3, 2, 4, [3], [2], {"reduction": "sum"}, scale=30.0)
    rnnt_case(f"rnnt/{dt}/none/two_classes", dt, 2, 3, 2, 2, [3, 3], [2, 1], {"reduction": "none", "blank": 0}, grad_output=True)
rnnt_case("rnnt/f64/mean/scalar_grad_output", "f64", 2, 3, 2, 4, [3, 3], [2, 2], {"reduction": "mean"}, grad_output="scalar")
rnnt_case("rnnt/f64/none/large_T30_U10_V20", "f64", 1, 30, 10, 20, [30], [10], {"reduction": "none"}, grad_output=True)
rnnt_case("rnnt/f32/mean/large_T30_U10_V20_clamp", "f32", 1, 30, 10, 20, [30], [10], {"reduction": "mean", "blank": 0, "clamp": 0.02})


def rnnt_err(cid, x, tg, il, tl, o):
    add_error(cid, "rnnt", "rnnt", rnnt_torchaudio_only, {"input": x, "target": tg, "input_lengths": il, "target_lengths": tl}, {"reduction": "mean", **o})


rx = randn(2, 4, 3, 5)
rt = idx([[1, 2], [3, 0]])
rnnt_err("rnnt/error/input_lengths_size", rx, rt, idx(4, 3, 3), idx(2, 1), {})
rnnt_err("rnnt/error/target_lengths_size", rx, rt, idx(4, 3), idx(2), {})
rnnt_err("rnnt/error/target_rows", rx, rt[:1], idx(4, 3), idx(2, 1), {})
rnnt_err("rnnt/error/max_input_length_short", rx, rt, idx(3, 3), idx(2, 1), {})
rnnt_err("rnnt/error/max_input_length_long", rx, rt, idx(5, 3), idx(2, 1), {})
rnnt_err("rnnt/error/max_target_length_short", rx, rt, idx(4, 3), idx(1, 1), {})
rnnt_err("rnnt/error/max_target_length_long", rx, rt, idx(4, 3), idx(3, 1), {})
rnnt_err("rnnt/error/blank_oob", rx, rt, idx(4, 3), idx(2, 1), {"blank": 5})
rnnt_err("rnnt/error/blank_negative_oob", rx, rt, idx(4, 3), idx(2, 1), {"blank": -6})
rnnt_err("rnnt/error/logits_3d", rx[0], rt, idx(4, 3), idx(2, 1), {})
rnnt_err("rnnt/error/targets_1d", rx[:1], idx(1, 2), idx(4), idx(2), {})
rnnt_err("rnnt/error/lengths_2d", rx, rt, idx([[4, 3]]), idx(2, 1), {})
rnnt_err("rnnt/error/empty_batch", randn(0, 4, 3, 5), torch.zeros(0, 2, dtype=I64), torch.zeros(0, dtype=I64), torch.zeros(0, dtype=I64), {})


# ---- box losses -------------------------------------------------------------
def degenerate_boxes():
    a = ft([[0.0, 0.0, 1.0, 1.0],    # identical
            [0.0, 0.0, 1.0, 1.0],    # sharing an edge (no overlap)
            [0.0, 0.0, 1.0, 1.0],    # disjoint
            [0.0, 0.0, 4.0, 4.0],    # nested
            [0.0, 0.0, 2.0, 1.0],    # equal x1, y1, y2 (ties in min / max)
            [1.0, 1.0, 0.0, 0.0],    # inverted
            [0.0, 0.0, 0.0, 1.0],    # zero width
            [0.5, 0.5, 0.5, 0.5],    # a point inside the other box
            [0.0, 0.0, 1e-4, 1e-4]])  # tiny
    b = ft([[0.0, 0.0, 1.0, 1.0],
            [1.0, 0.0, 2.0, 1.0],
            [2.0, 2.0, 3.0, 3.0],
            [1.0, 1.0, 2.0, 3.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1.0, 1.0],
            [0.0, 0.0, 1e-4, 2e-4]])
    return a, b


for op, fn in [("generalized_box_iou", giou), ("distance_box_iou", diou), ("complete_box_iou", ciou)]:
    ns = {"none": 5, "mean": 3, "sum": 8}
    eps_cycle = iter([None, 1e-7, 1e-3, 1e-5, None, 1e-7])

    def box_base(dt, r, op=op, fn=fn, ns=ns, eps_cycle=eps_cycle):
        e = next(eps_cycle)
        o = {"reduction": r} if e is None else {"reduction": r, "eps": e}
        n = ns[r]
        add(f"{op}/{dt}/{r}/eps{'_default' if e is None else e}", op, op, dt, fn, {"input": boxes(n), "target": boxes(n)}, o, grad_output=(r == "none"))
    reductions(box_base)
    reductions(lambda dt, r, op=op, fn=fn: add(f"{op}/{dt}/{r}/overlapping", op, op, dt, fn,
                                               {"input": (lambda b: b + randn(6, 4, scale=0.3))(boxes(6)), "target": boxes(6)}, {"reduction": r}, grad_output=(r == "none")))
    a, b = degenerate_boxes()
    ok = slice(None) if op != "complete_box_iou" else [0, 1, 2, 3, 4, 5, 6, 8]   # ciou: a point box, see zero_area_pair
    for dt in DTYPES:
        add(f"{op}/{dt}/none/degenerate", op, op, dt, fn, {"input": a[ok], "target": b[ok]}, {"reduction": "none"}, grad_output=True)
        add(f"{op}/{dt}/sum/degenerate_eps1e-3", op, op, dt, fn, {"input": a[ok], "target": b[ok]}, {"reduction": "sum", "eps": 1e-3})
    # CIoU: torchvision's atan(0 / 0) makes this NaN; losskit's defined answer (ciou_defined).
    add(f"{op}/f64/none/zero_area_pair", op, op, "f64", fn if op != "complete_box_iou" else ciou_defined, {"input": ft([[0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5]]), "target": ft([[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]])},
        {"reduction": "none"}, grad_output=True)
    add(f"{op}/f64/none/unbatched", op, op, "f64", fn, {"input": ft([0.1, 0.2, 1.5, 1.1]), "target": ft([0.0, 0.0, 1.0, 1.0])}, {"reduction": "none"}, grad_output=True)
    add(f"{op}/f64/mean/large_coordinates", op, op, "f64", fn, {"input": boxes(4, scale=1000.0), "target": boxes(4, scale=1000.0)}, {"reduction": "mean"})
    add(f"{op}/f64/default_reduction_is_mean", op, op, "f64", fn, {"input": boxes(3), "target": boxes(3)}, {})
    add(f"{op}/f64/mean/scalar_grad_output", op, op, "f64", fn, {"input": boxes(3), "target": boxes(3)}, {"reduction": "mean"}, grad_output="scalar")
    for r in REDS:
        add(f"{op}/f64/{r}/empty", op, op, "f64", fn, {"input": randn(0, 4), "target": randn(0, 4)}, {"reduction": r}, grad_output=(r == "none"))
    add_error(f"{op}/error/batch_mismatch", op, op, fn, {"input": boxes(3), "target": boxes(2)}, {"reduction": "mean"})
    add_error(f"{op}/error/last_dim_3", op, op, fn, {"input": randn(3, 3), "target": randn(3, 3)}, {"reduction": "mean"})
    add_error(f"{op}/error/last_dim_5", op, op, fn, {"input": randn(2, 5), "target": randn(2, 5)}, {"reduction": "sum"})
# torchvision: a finite loss and NaN gradients at zero height; losskit's defined answer (ciou_defined).
add("complete_box_iou/f64/none/zero_width_and_height", "complete_box_iou", "complete_box_iou", "f64", ciou_defined,
    {"input": ft([[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 2.0, 0.0]]), "target": ft([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])}, {"reduction": "none"}, grad_output=True)


def check_ciou_defined():
    """ciou_defined gives torchvision's values and gradients on ordinary boxes (its own generator,
    so that the cases' random stream is untouched)."""
    g = torch.Generator().manual_seed(7)
    def rand_boxes():
        xy, wh = torch.rand(64, 2, generator=g, dtype=torch.float64) * 4, torch.rand(64, 2, generator=g, dtype=torch.float64) + 0.1
        return torch.cat([xy, xy + wh], dim=1).requires_grad_()
    for r in ("none", "sum"):
        a, b = rand_boxes(), rand_boxes()
        outs = []
        for fn in (ciou, ciou_defined):
            out = fn({"input": a, "target": b}, {"reduction": r})
            ga, gb = torch.autograd.grad(out.sum(), (a, b))
            outs.append((out.detach(), ga, gb))
        for x, y in zip(*outs):
            assert torch.allclose(x, y, rtol=1e-12, atol=1e-14), (r, (x - y).abs().max())


check_ciou_defined()
for dt in DTYPES:
    add(f"complete_box_iou/{dt}/none/aspect_ratios", "complete_box_iou", "complete_box_iou", dt, ciou,
        {"input": ft([[0.0, 0.0, 10.0, 0.5], [0.0, 0.0, 0.5, 10.0], [1.0, 1.0, 3.0, 2.0]]), "target": ft([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 4.0, 1.0], [1.0, 1.0, 2.0, 3.0]])},
        {"reduction": "none", "eps": 1e-5}, grad_output=True)

# ---- beyond: cross_entropy with softcap / z_loss ----------------------------
be_opts = iter([{"softcap": 30.0}, {"z_loss": 1e-4}, {"softcap": 5.0, "z_loss": 0.01},
                {"ignore_index": 1, "z_loss": 1e-3, "weight": True}, {"softcap": None, "z_loss": 0.0}, {"label_smoothing": 0.1, "softcap": 10.0, "weight": True}])
for dt in DTYPES:
    for r in REDS:
        o = dict(next(be_opts))
        C = 6
        if o.get("weight"):
            o["weight"] = rand(C, lo=0.2, hi=2.0)
        tag = "_".join(k if k == "weight" else f"{k}{v}" for k, v in o.items())
        tg = randint(0, C, (7,))
        tg[2] = 1
        add(f"ce_beyond/{dt}/{r}/2d_{tag}", "beyond", "cross_entropy", dt, ce_beyond, {"input": randn(7, C, scale=3.0), "target": tg}, {"reduction": r, **o},
            grad_output=(r == "none"))
        add(f"ce_beyond/{dt}/{r}/kdim_softcap_z", "beyond", "cross_entropy", dt, ce_beyond, {"input": randn(2, 5, 3, 2, scale=3.0), "target": randint(0, 5, (2, 3, 2))},
            {"reduction": r, "softcap": 4.0, "z_loss": 0.02, "label_smoothing": 0.05}, grad_output=(r == "none"))
        add(f"ce_beyond/{dt}/{r}/unbatched_softcap_z", "beyond", "cross_entropy", dt, ce_beyond, {"input": randn(5, scale=3.0), "target": scalar_idx(3)},
            {"reduction": r, "softcap": 2.0, "z_loss": 0.1, "weight": rand(5, lo=0.5)}, grad_output=(r == "none"))
        wt = rand(5, lo=0.2, hi=2.0)
        tgi = idx(0, -100, 3, 4, -100, 2, 1, 3)
        add(f"ce_beyond/{dt}/{r}/all_options", "beyond", "cross_entropy", dt, ce_beyond, {"input": randn(8, 5, scale=4.0), "target": tgi},
            {"reduction": r, "weight": wt, "label_smoothing": 0.2, "softcap": 6.0, "z_loss": 0.005}, grad_output=(r == "none"))
    add(f"ce_beyond/{dt}/none/large_logits_softcap", "beyond", "cross_entropy", dt, ce_beyond,
        {"input": ft([[1e4, -1e4, 0.0, 5e3], [-1e4, -1e4, -1e4, -1e4 + 1], [30.0, 29.0, -30.0, 0.0]]), "target": idx(1, 3, 0)},
        {"reduction": "none", "softcap": 30.0, "z_loss": 1e-4}, grad_output=True)
    add(f"ce_beyond/{dt}/mean/large_logits_z_only", "beyond", "cross_entropy", dt, ce_beyond,
        {"input": ft([[100.0, -50.0, 0.0], [-80.0, 60.0, 1.0]]), "target": idx(0, 2)}, {"reduction": "mean", "z_loss": 1e-4})
for r in REDS:
    add(f"ce_beyond/f64/{r}/all_ignored", "beyond", "cross_entropy", "f64", ce_beyond, {"input": randn(3, 4), "target": idx(2, 2, 2)},
        {"reduction": r, "ignore_index": 2, "softcap": 20.0, "z_loss": 1e-3}, grad_output=(r == "none"))
    add(f"ce_beyond/f64/{r}/empty", "beyond", "cross_entropy", "f64", ce_beyond, {"input": randn(0, 4), "target": torch.zeros(0, dtype=I64)},
        {"reduction": r, "softcap": 3.0, "z_loss": 1e-2}, grad_output=(r == "none"))
add("ce_beyond/f64/mean/weighted_all_ignored_but_one", "beyond", "cross_entropy", "f64", ce_beyond, {"input": randn(4, 3), "target": idx(-100, 1, -100, -100)},
    {"reduction": "mean", "weight": ft([0.5, 3.0, 1.0]), "z_loss": 0.1})
add("ce_beyond/f64/mean/scalar_grad_output", "beyond", "cross_entropy", "f64", ce_beyond, {"input": randn(4, 3), "target": idx(0, 1, 2, 1)},
    {"reduction": "mean", "softcap": 1.5, "z_loss": 0.05}, grad_output="scalar")
add("ce_beyond/f64/mean/smoothing_one_softcap", "beyond", "cross_entropy", "f64", ce_beyond, {"input": randn(4, 3), "target": idx(0, 1, 2, 1)},
    {"reduction": "mean", "softcap": 1.5, "label_smoothing": 1.0})
add_error("ce_beyond/error/target_oob_z", "beyond", "cross_entropy", ce_beyond, {"input": randn(3, 4), "target": idx(0, 4, 1)}, {"reduction": "mean", "z_loss": 1e-3})
add_error("ce_beyond/error/target_negative_softcap", "beyond", "cross_entropy", ce_beyond, {"input": randn(3, 4), "target": idx(0, -1, 1)}, {"reduction": "sum", "softcap": 5.0})
add_error("ce_beyond/error/weight_len_z", "beyond", "cross_entropy", ce_beyond, {"input": randn(3, 4), "target": idx(0, 1, 1)}, {"reduction": "mean", "z_loss": 1e-3, "weight": rand(3)})
add_error("ce_beyond/error/smoothing_above_1_softcap", "beyond", "cross_entropy", ce_beyond, {"input": randn(3, 4), "target": idx(0, 1, 1)},
          {"reduction": "mean", "softcap": 5.0, "label_smoothing": 1.5})
add_error("ce_beyond/error/target_batch_z", "beyond", "cross_entropy", ce_beyond, {"input": randn(3, 4), "target": idx(0, 1)}, {"reduction": "mean", "z_loss": 1e-3})

# ---- beyond: linear_cross_entropy -------------------------------------------
LCE = "linear_cross_entropy"
lce_opts = iter([{}, {"bias": True}, {"bias": True, "ignore_index": 0}, {"label_smoothing": 0.1, "weight": True}, {"bias": True, "softcap": 15.0},
                 {"ignore_index": 1, "z_loss": 1e-3, "weight": True}])
for dt in DTYPES:
    for r in REDS:
        o = dict(next(lce_opts))
        N, H, V = 6, 4, 10
        t = {"input": randn(N, H), "classifier": randn(V, H, scale=0.8), "target": randint(0, V, (N,))}
        t["target"][1] = 1
        t["target"][3] = 0
        if o.pop("bias", False):
            t["bias"] = randn(V)
        if o.get("weight"):
            o["weight"] = rand(V, lo=0.2, hi=2.0)
        tag = "_".join(k if k == "weight" else f"{k}{v}" for k, v in o.items()) + ("_bias" if "bias" in t else "")
        add(f"{LCE}/{dt}/{r}/{tag.strip('_') or 'defaults'}", "beyond", LCE, dt, linear_ce, t, {"reduction": r, **o}, grad_output=(r == "none"))
        for bias in [False, True]:
            t = {"input": randn(5, 3, scale=2.0), "classifier": randn(7, 3), "target": idx(0, -100, 6, 2, 2)}
            if bias:
                t["bias"] = randn(7)
            add(f"{LCE}/{dt}/{r}/all_options{'_bias' if bias else ''}", "beyond", LCE, dt, linear_ce, t,
                {"reduction": r, "weight": rand(7, lo=0.2, hi=2.0), "label_smoothing": 0.15, "softcap": 3.0, "z_loss": 0.01}, grad_output=(r == "none"))
# large vocabulary, a chunk-unfriendly N
add(f"{LCE}/f32/mean/large_V1000_N37_bias_softcap_z", "beyond", LCE, "f32", linear_ce,
    {"input": randn(37, 8), "classifier": randn(1000, 8, scale=0.7), "bias": randn(1000, scale=0.5), "target": randint(0, 1000, (37,))},
    {"reduction": "mean", "softcap": 30.0, "z_loss": 1e-4})
tgl = randint(0, 1000, (37,))
tgl[::5] = 3
add(f"{LCE}/f64/sum/large_V1000_N37_weight_ignore_smoothing", "beyond", LCE, "f64", linear_ce,
    {"input": randn(37, 8), "classifier": randn(1000, 8, scale=0.7), "target": tgl},
    {"reduction": "sum", "ignore_index": 3, "label_smoothing": 0.1, "weight": rand(1000, lo=0.5, hi=1.5), "z_loss": 1e-3})
for r in REDS:
    add(f"{LCE}/f64/{r}/all_ignored_bias", "beyond", LCE, "f64", linear_ce,
        {"input": randn(3, 4), "classifier": randn(5, 4), "bias": randn(5), "target": idx(-100, -100, -100)}, {"reduction": r, "z_loss": 1e-3}, grad_output=(r == "none"))
    add(f"{LCE}/f64/{r}/empty_batch", "beyond", LCE, "f64", linear_ce,
        {"input": randn(0, 4), "classifier": randn(5, 4), "bias": randn(5), "target": torch.zeros(0, dtype=I64)}, {"reduction": r, "softcap": 2.0}, grad_output=(r == "none"))
add(f"{LCE}/f64/mean/scalar_grad_output", "beyond", LCE, "f64", linear_ce,
    {"input": randn(4, 3), "classifier": randn(6, 3), "bias": randn(6), "target": idx(0, 5, 2, 2)}, {"reduction": "mean", "z_loss": 1e-3}, grad_output="scalar")
add(f"{LCE}/f64/none/large_logits_softcap", "beyond", LCE, "f64", linear_ce,
    {"input": randn(3, 2, scale=30.0), "classifier": randn(4, 2, scale=30.0), "target": idx(0, 1, 3)}, {"reduction": "none", "softcap": 50.0, "z_loss": 1e-4}, grad_output=True)
add(f"{LCE}/f64/mean/one_class", "beyond", LCE, "f64", linear_ce,
    {"input": randn(3, 2), "classifier": randn(1, 2), "bias": randn(1), "target": idx(0, 0, 0)}, {"reduction": "mean", "z_loss": 0.1})


def lce_err(cid, t, o, spec_error=None):
    add_error(cid, "beyond", LCE, linear_ce if spec_error is None else None, t, {"reduction": "mean", **o}, spec_error=spec_error)


lce_err(f"{LCE}/error/hidden_mismatch", {"input": randn(3, 4), "classifier": randn(5, 3), "target": idx(0, 1, 2)}, {})
lce_err(f"{LCE}/error/bias_len", {"input": randn(3, 4), "classifier": randn(5, 4), "bias": randn(4), "target": idx(0, 1, 2)}, {})
lce_err(f"{LCE}/error/target_len", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, 1)}, {})
lce_err(f"{LCE}/error/target_oob", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, 5, 1)}, {"z_loss": 1e-3})
lce_err(f"{LCE}/error/target_negative", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, -1, 1)}, {})
lce_err(f"{LCE}/error/weight_len", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, 1, 1)}, {"weight": rand(4)})
lce_err(f"{LCE}/error/smoothing_above_1", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, 1, 1)}, {"label_smoothing": 1.5})
lce_err(f"{LCE}/error/smoothing_negative", {"input": randn(3, 4), "classifier": randn(5, 4), "target": idx(0, 1, 1)}, {"label_smoothing": -0.1},
        spec_error="label_smoothing outside [0, 1] is refused (PyTorch itself accepts a negative one)")
lce_err(f"{LCE}/error/classifier_1d", {"input": randn(3, 4), "classifier": randn(4), "target": idx(0, 1, 1)}, {})
lce_err(f"{LCE}/error/input_1d", {"input": randn(4), "classifier": randn(5, 4), "target": scalar_idx(1)}, {},
        spec_error="linear_cross_entropy's input is (N, H)")
lce_err(f"{LCE}/error/missing_classifier", {"input": randn(3, 4), "target": idx(0, 1, 1)}, {}, spec_error="linear_cross_entropy needs classifier")
add_error("ce_beyond/error/field_classifier", "beyond", "cross_entropy", None, {"input": randn(3, 4), "classifier": randn(4, 4), "target": idx(0, 1, 1)}, {"reduction": "mean"},
          spec_error="classifier is not a field of cross_entropy")


# ============================================================================= checks and output

OPS = {"l1": l1, "mse": mse, "smooth_l1": smooth_l1, "huber": huber, "soft_margin": soft_margin, "poisson_nll": poisson_nll,
       "gaussian_nll": gaussian_nll, "hinge_embedding": hinge_embedding, "multilabel_soft_margin": multilabel_soft_margin,
       "multilabel_margin": multilabel_margin, "multi_margin": multi_margin, "margin_ranking": margin_ranking,
       "cosine_embedding": cosine_embedding, "triplet_margin": triplet_margin, "triplet_margin_with_distance": triplet_margin_with_distance,
       "ctc": ctc, "rnnt": rnnt, "generalized_box_iou": giou, "distance_box_iou": diou, "complete_box_iou": ciou,
       "cross_entropy": ce_beyond, "linear_cross_entropy": linear_ce}
ERROR_OPS = {**OPS, "rnnt": rnnt_torchaudio_only}
CE_OPTIONS = {"weight", "ignore_index", "label_smoothing", "softcap", "z_loss"}
OPTIONS = {"l1": set(), "mse": set(), "smooth_l1": {"beta"}, "huber": {"delta"}, "soft_margin": set(), "poisson_nll": {"log_input", "full", "eps"},
           "gaussian_nll": {"full", "eps"}, "hinge_embedding": {"margin"}, "multilabel_soft_margin": {"weight"}, "multilabel_margin": set(),
           "multi_margin": {"p", "margin", "weight"}, "margin_ranking": {"margin"}, "cosine_embedding": {"margin"},
           "triplet_margin": {"margin", "p", "eps", "swap"}, "triplet_margin_with_distance": {"distance", "margin", "swap"},
           "ctc": {"blank", "zero_infinity"}, "rnnt": {"blank", "clamp", "fused_log_softmax"}, "generalized_box_iou": {"eps"},
           "distance_box_iou": {"eps"}, "complete_box_iou": {"eps"}, "cross_entropy": CE_OPTIONS, "linear_cross_entropy": CE_OPTIONS}
FIELDS = {op: {"input", "target"} for op in OPTIONS}
FIELDS.update({"gaussian_nll": {"input", "target", "var"}, "margin_ranking": {"input", "input2", "target"}, "cosine_embedding": {"input", "input2", "target"},
               "triplet_margin": {"input", "positive", "negative"}, "triplet_margin_with_distance": {"input", "positive", "negative"},
               "ctc": {"input", "target", "input_lengths", "target_lengths"}, "rnnt": {"input", "target", "input_lengths", "target_lengths"},
               "linear_cross_entropy": {"input", "classifier", "bias", "target"}})


def protocol_refuses(r):
    """An unknown option or field (the protocol's own refusals, before any PyTorch call)."""
    op = r["op"]
    fields = {k for k in r if k not in ("op", "dtype", "options", "grad_output")}
    return bool(set(r.get("options", {})) - OPTIONS[op] - {"reduction"} or fields - FIELDS[op])


def unwire(t):
    if t.get("dtype") == "i64":
        return torch.tensor(t["data"], dtype=I64).reshape(t["shape"])
    return torch.tensor([{"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[v] if isinstance(v, str) else v for v in t["data"]], dtype=F64).reshape(t["shape"])


def close(want, got, rtol, atol):
    w, g = unwire(want), got.detach().to(F64)
    if list(w.shape) != list(g.shape):
        return f"shape {list(g.shape)} != {list(w.shape)}"
    ok = (w.isnan() & g.isnan()) | (w == g) | ((w - g).abs() <= atol + rtol * w.abs())
    return None if bool(ok.all()) else f"max error {float((w - g).abs().nan_to_num(math.inf).max())}"


def check_public():
    """Every case of the team's public catalogue, reproduced with this script's functions (the
    rnnt ones with rnnt_reference): the reading of each op here is the one the public cases hold."""
    path = next((p for p in PUBLIC_CANDIDATES if os.path.exists(p)), None)
    if path is None:
        print("public catalogue not found (set LOSSKIT_SHARED): not checked against it", file=sys.stderr)
        return None
    n = {"values": 0, "errors": 0, "spec": 0}
    for line in open(path):
        c = json.loads(line)
        r = c["request"]
        t64 = {f: unwire(r[f]) for f in FIELD_ORDER if f in r}
        o64 = {k: (unwire(v) if isinstance(v, dict) else v) for k, v in r.get("options", {}).items()}
        if c["expected"].get("error"):
            if "spec_error" in c:
                n["spec"] += 1
                continue
            if protocol_refuses(r):
                n["errors"] += 1
                continue
            try:
                with quiet_stderr():
                    ERROR_OPS[r["op"]](t64, o64)
            except Exception:  # noqa: BLE001
                n["errors"] += 1
                continue
            raise AssertionError(f"public {c['id']}: accepted here")
        g = unwire(r["grad_output"]) if "grad_output" in r else None
        out, grads, _ = evaluate(OPS[r["op"]], t64, o64, lambda out: g)
        for key, want in c["expected"].items():
            why = close(want, out if key == "output" else grads[key], c["rtol"], c["atol"])
            assert why is None, f"public {c['id']} {key}: {why}"
        n["values"] += 1
    print(f"reproduced all {n['values']} valued public cases of {os.path.normpath(path)}; {n['errors']} PyTorch errors raised here too "
          f"({n['spec']} protocol-only errors not run)", file=sys.stderr)
    return path


def self_check(public):
    ids = set()
    for c in cases:
        assert c["id"] not in ids, "duplicate id " + c["id"]
        ids.add(c["id"])
        r, e = c["request"], c["expected"]
        assert isinstance(r["op"], str) and r["dtype"] in ("f32", "f64"), c["id"]
        for f in FIELD_ORDER + ["grad_output"]:
            if f in r:
                t = r[f]
                assert len(t["data"]) == math.prod(t["shape"]), (c["id"], f)
        if e.get("error"):
            assert ("torch_error" in c) != ("spec_error" in c), c["id"]
            assert "rtol" not in c, c["id"]
            continue
        assert c["rtol"] > 0 and c["atol"] > 0, c["id"]
        assert not protocol_refuses(r), ("unknown option or field", c["id"])
        assert len(e["output"]["data"]) == math.prod(e["output"]["shape"]), c["id"]
        if "grad_output" in r:
            assert r["grad_output"]["shape"] == e["output"]["shape"], c["id"]
        want = {grad_key(f) for f in GRAD_FIELDS if f in r}
        assert set(k for k in e if k.startswith("grad_")) == want and set(e) == want | {"output"}, (c["id"], set(e), want)
        for f in GRAD_FIELDS:
            if f in r:
                assert e[grad_key(f)]["shape"] == r[f]["shape"], (c["id"], f)
                assert len(e[grad_key(f)]["data"]) == len(r[f]["data"]), (c["id"], f)
        for f in ("target", "input_lengths", "target_lengths"):
            if f in r and r[f].get("dtype") == "i64":
                assert all(isinstance(v, int) for v in r[f]["data"]), (c["id"], f)
    if public:
        public_ids = {json.loads(line)["id"] for line in open(public)}
        clash = ids & public_ids
        assert not clash, f"ids shared with the public catalogue: {sorted(clash)}"


public = check_public()
self_check(public)
write_jsonl(OUT, cases)
with open(OUT.replace(".jsonl", ".versions"), "w") as f:
    f.write(f"torch {torch.__version__}\ntorchvision {torchvision.__version__}\ntorchaudio {torchaudio.__version__}\n")
groups = {}
for c in cases:
    groups.setdefault(c["group"], [0, 0])[1 if c["expected"].get("error") else 0] += 1
print(f"wrote {len(cases)} cases ({os.path.getsize(OUT) / 1e6:.2f} MB) to {os.path.normpath(OUT)} with torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, torchaudio {torchaudio.__version__}", file=sys.stderr)
for g, (n, e) in sorted(groups.items()):
    print(f"  {g:30s} {n:4d} cases {e:3d} errors", file=sys.stderr)
ec = max((a for a, _ in RNNT_CHECKS), default=0.0)
eg = max((b for _, b in RNNT_CHECKS), default=0.0)
print(f"rnnt: f64 reference vs torchaudio (f32) on {len(RNNT_CHECKS)} cases: worst cost rel. error {ec:.1e}, worst gradient abs. error {eg:.1e}", file=sys.stderr)
