"""Helpers shared by the golden-case generators (generate.py, catalogue.py): tensors on the
eval protocol's wire format and the JSON Lines writer."""
import json
import math
import os

import torch


def enc(v):
    """A float as the protocol writes it: non-finite numbers become "nan", "inf", "-inf"."""
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def wire(t, index=False):
    """A tensor as {"shape", "data"} (row-major), with "dtype": "i64" for index tensors."""
    t = t.detach()
    d = {"shape": list(t.shape), "data": [int(v) for v in t.flatten().tolist()] if index else [enc(float(v)) for v in t.flatten().tolist()]}
    if index:
        d["dtype"] = "i64"
    return d


def opt_wire(options):
    """Options with tensor values (weights) written as tensors."""
    out = {}
    for k, v in options.items():
        out[k] = wire(v) if isinstance(v, torch.Tensor) else v
    return out


def write_jsonl(path, cases):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")
