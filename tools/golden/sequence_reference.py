#!/usr/bin/env python3
"""Writes the reference fixtures of the sequence losses' Rust tests, from PyTorch and torchaudio
(crates/losskit/tests/fixtures/, read by crates/losskit/tests/sequence_reference.rs):

- sequence_ctc_torch.json: F.ctc_loss per-sample losses (reduction "none") and the gradient of
  their sum, i.e. each sample's unscaled gradient, over edge cases: mixed lengths, infeasible
  samples with and without zero_infinity, empty inputs and targets, repeated labels, labels
  equal to the blank (not last), -inf log-probabilities, unnormalised inputs, both target layouts.
- sequence_rnnt_torchaudio.json: torchaudio's rnnt_loss costs and gradients (f32 only:
  torchaudio computes in f32) with fused log-softmax or not, clamp, blank positions, mixed
  lengths, and an f64 autograd reference of the same recursion.

Non-finite numbers are written as the strings "inf", "-inf", "nan", as in the eval protocol.
PyTorch 2.15, torchaudio 2.11.1. Run from anywhere: python3 tools/golden/sequence_reference.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "crates", "losskit", "tests", "fixtures")


def enc(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def flat(t):
    return [enc(float(v)) for v in t.detach().reshape(-1).tolist()]


def ctc_reference(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity):
    lp = log_probs.clone().requires_grad_()
    il = torch.tensor(input_lengths)
    tl = torch.tensor(target_lengths)
    loss = F.ctc_loss(lp, targets, il, tl, blank=blank, reduction="none", zero_infinity=zero_infinity)
    loss.sum().backward()
    return loss, lp.grad


def ctc_case(name, log_probs, targets, input_lengths, target_lengths, blank=0, zero_infinity=False):
    """targets: (N, S) padded or 1-D concatenated, as F.ctc_loss takes them. An f32 case also
    carries PyTorch's f64 answer on the same (f32) values: PyTorch's f32 recursion is the less
    accurate of the two."""
    loss, grad = ctc_reference(log_probs, targets, input_lengths, target_lengths, blank, zero_infinity)
    T, N, C = log_probs.shape
    extra = {}
    if log_probs.dtype == torch.float32:
        loss64, grad64 = ctc_reference(log_probs.double(), targets, input_lengths, target_lengths, blank, zero_infinity)
        extra = {"nll64": flat(loss64), "grad64": flat(grad64)}
    return extra | {
        "name": name,
        "dtype": "f64" if log_probs.dtype == torch.float64 else "f32",
        "shape": [T, N, C],
        "layout": "padded" if targets.dim() == 2 else "concatenated",
        "max_len": targets.shape[1] if targets.dim() == 2 else None,
        "targets": targets.reshape(-1).tolist(),
        "input_lengths": input_lengths,
        "target_lengths": target_lengths,
        "blank": blank,
        "zero_infinity": zero_infinity,
        "log_probs": flat(log_probs),
        "nll": flat(loss),
        "grad": flat(grad),
    }


def ctc_cases():
    g = torch.Generator().manual_seed(20240601)

    def lsm(T, N, C, dtype=torch.float64, scale=1.0):
        return (scale * torch.randn(T, N, C, generator=g, dtype=dtype)).log_softmax(-1)

    def labels(N, S, C, blank):
        choices = [c for c in range(C) if c != blank]
        idx = torch.randint(0, len(choices), (N, S), generator=g)
        return torch.tensor(choices)[idx]

    cases = []
    for dtype in (torch.float64, torch.float32):
        tag = "f64" if dtype == torch.float64 else "f32"
        for blank in (0, 3):
            for zi in (False, True):
                T, N, C, S = 12, 6, 6, 5
                tg = labels(N, S, C, blank)
                tg[1, 1] = tg[1, 0]  # adjacent repeat
                tg[2, :4] = tg[2, 0]  # a run of four: needs 7 frames
                il = [12, 9, 6, 12, 0, 3]
                tl = [5, 4, 4, 0, 2, 5]  # sample 2 and 5 infeasible, 4 has no frames
                cases.append(ctc_case(f"mixed/{tag}/blank{blank}/zi{zi}", lsm(T, N, C, dtype), tg, il, tl, blank, zi))
        T, N, C, S = 60, 3, 12, 20
        tg = labels(N, S, C, 0)
        cases.append(ctc_case(f"medium/{tag}", lsm(T, N, C, dtype, 3.0), tg, [60, 47, 33], [20, 20, 13]))
    # Concatenated targets (and the same in padded form is the mixed case's job).
    tg = labels(4, 4, 5, 0)
    tl = [4, 2, 0, 3]
    concat = torch.cat([tg[n, : tl[n]] for n in range(4)])
    cases.append(ctc_case("concatenated/f64", lsm(9, 4, 5), concat, [9, 5, 4, 7], tl))
    # Labels equal to the blank (PyTorch accepts them), except in last position: there PyTorch's
    # last frame keeps only the label's occupation for the blank class (it assigns where it
    # would add), which losskit does not copy (sequence_gradcheck.rs shows the difference).
    cases.append(ctc_case("label_is_blank/f64", lsm(7, 3, 4), torch.tensor([[0, 2], [0, 1], [1, 0]]), [7, 7, 5], [2, 2, 1]))
    # -inf log-probabilities: PyTorch's gradient is NaN exactly there (t < input length).
    lp = lsm(6, 2, 4)
    lp[1, 0, 3] = -math.inf
    lp[2, 0, 1] = -math.inf  # a target class
    lp[4, 1, 2] = -math.inf  # beyond sample 1's input length
    cases.append(ctc_case("neg_inf/f64", lp, torch.tensor([[1, 2], [3, 1]]), [6, 4], [2, 2]))
    # Inputs that are not log-softmax outputs.
    cases.append(ctc_case("unnormalised/f64", 2.0 * torch.randn(8, 2, 5, generator=g, dtype=torch.float64),
                          torch.tensor([[1, 4, 4], [2, 3, 1]]), [8, 6], [3, 3]))
    # Empty inputs and targets, with and without zero_infinity.
    for zi in (False, True):
        cases.append(ctc_case(f"empty/zi{zi}", lsm(4, 4, 3), torch.tensor([[1, 2], [1, 1], [2, 1], [1, 2]]),
                              [0, 0, 4, 1], [0, 1, 0, 2], zero_infinity=zi))
    return cases


def rnnt_autograd_f64(logits, targets, logit_lengths, target_lengths, blank, clamp, fused):
    """An independent f64 reference: the lattice recursion written with torch ops and
    differentiated by autograd (the true gradient w.r.t. the logits, or w.r.t. the inputs
    taken as log-probabilities when not fused), then torchaudio's per-element clamp."""
    x = logits.double().clone().requires_grad_()
    lp = x.log_softmax(-1) if fused else x
    costs = []
    for n in range(x.shape[0]):
        T, U = logit_lengths[n], target_lengths[n]
        blank_lp = lp[n, :T, : U + 1, blank]
        emit_lp = torch.stack([lp[n, :T, u, targets[n, u]] for u in range(U)], 1) if U else None
        neg_inf = torch.tensor(-math.inf, dtype=torch.float64)
        alpha = [[None] * (U + 1) for _ in range(T)]
        for t in range(T):
            for u in range(U + 1):
                if t == 0 and u == 0:
                    alpha[t][u] = torch.tensor(0.0, dtype=torch.float64)
                    continue
                a = alpha[t - 1][u] + blank_lp[t - 1, u] if t > 0 else neg_inf
                b = alpha[t][u - 1] + emit_lp[t, u - 1] if u > 0 else neg_inf
                alpha[t][u] = torch.logaddexp(a, b)
        costs.append(-(alpha[T - 1][U] + blank_lp[T - 1, U]))
    cost = torch.stack(costs)
    cost.sum().backward()
    grad = x.grad
    if clamp > 0:
        grad = grad.clamp(-clamp, clamp)
    return cost, grad


def rnnt_case(name, logits, targets, logit_lengths, target_lengths, blank, clamp=-1.0, fused=True):
    """torchaudio's f32 answer, and the f64 autograd reference on the same values."""
    V = logits.shape[-1]
    cost64, grad64 = rnnt_autograd_f64(logits, targets, logit_lengths, target_lengths, blank % V, clamp, fused)
    lg = logits.clone().requires_grad_()
    cost = AF.rnnt_loss(lg, targets.int(), torch.tensor(logit_lengths).int(), torch.tensor(target_lengths).int(),
                        blank=blank, clamp=clamp, reduction="none", fused_log_softmax=fused)
    cost.sum().backward()
    N, T, U1, V = logits.shape
    return {
        "name": name,
        "shape": [N, T, U1 - 1, V],
        "targets": targets.reshape(-1).tolist(),
        "logit_lengths": logit_lengths,
        "target_lengths": target_lengths,
        "blank": blank if blank >= 0 else V + blank,
        "clamp": clamp,
        "fused_log_softmax": fused,
        "logits": flat(logits),
        "nll": flat(cost),
        "grad": flat(lg.grad),
        "nll64": flat(cost64),
        "grad64": flat(grad64),
    }


def rnnt_cases():
    g = torch.Generator().manual_seed(20240602)
    cases = []
    N, T, U, V = 3, 6, 4, 7
    for blank in (0, 3, V - 1):
        choices = torch.tensor([c for c in range(V) if c != blank])
        tg = choices[torch.randint(0, V - 1, (N, U), generator=g)]
        for fused in (True, False):
            for clamp in (-1.0, 0.05):
                x = 2.0 * torch.randn(N, T, U + 1, V, generator=g)
                if not fused:
                    x = x.log_softmax(-1)
                cases.append(rnnt_case(f"mixed/blank{blank}/fused{fused}/clamp{clamp}", x, tg, [6, 4, 1], [4, 2, 3],
                                       blank, clamp, fused))
    # U = 0 for every sample, and large logits.
    cases.append(rnnt_case("no_labels", 3.0 * torch.randn(2, 5, 1, 4, generator=g), torch.zeros(2, 0, dtype=torch.long),
                           [5, 3], [0, 0], blank=-1))
    cases.append(rnnt_case("large_logits", 20.0 * torch.randn(2, 8, 4, 9, generator=g),
                           torch.tensor([[1, 2, 3], [4, 4, 0]]), [8, 7], [3, 2], blank=8))
    # Labels equal to the blank (torchaudio accepts them): its gradient tests the blank first,
    # so where the blank can move the label's transition is not subtracted; that is not the
    # derivative, so the case has no f64 autograd reference.
    for fused in (True, False):
        case = rnnt_case(f"label_is_blank/fused{fused}", 2.0 * torch.randn(2, 4, 3, 5, generator=g),
                         torch.tensor([[1, 1], [0, 2]]), [4, 3], [2, 2], blank=1, fused=fused)
        del case["nll64"], case["grad64"]
        cases.append(case)
    return cases


def main():
    os.makedirs(FIXTURES, exist_ok=True)
    for name, cases in (("sequence_ctc_torch.json", ctc_cases()), ("sequence_rnnt_torchaudio.json", rnnt_cases())):
        with open(os.path.join(FIXTURES, name), "w") as f:
            json.dump({"torch": torch.__version__, "cases": cases}, f)
        print(name, len(cases), "cases")


if __name__ == "__main__":
    main()
