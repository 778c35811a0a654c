#!/usr/bin/env python3
"""Writes crates/losskit-cli/tests/fixtures/sklearn_metrics.json: scikit-learn's values of the
metrics `losskit compare` reports, on fixed random scores (with ties) and labels.

    pip install scikit-learn numpy
    python3 tools/metrics/sklearn_reference.py

ECE has no scikit-learn function: it is computed here with numpy from its definition
(10 equal-width bins, sum over bins of n_b/N |mean(outcome) - mean(p)|).
"""
import json
import os

import numpy as np
import sklearn
from sklearn.metrics import (accuracy_score, average_precision_score, balanced_accuracy_score,
                             f1_score, precision_recall_curve, precision_score, recall_score,
                             roc_auc_score)

rng = np.random.default_rng(20261128)
OUT = os.path.join(os.path.dirname(__file__), "..", "..", "crates", "losskit-cli", "tests", "fixtures", "sklearn_metrics.json")


def ece(p, y, bins=10):
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(total)


binary = []
for k, (n, rate, rounding) in enumerate([(50, 0.3, None), (400, 0.05, 2), (1000, 0.01, None), (30, 0.5, 1)]):
    y = rng.random(n) < rate
    y[0] = True
    scores = np.clip(rng.random(n) * 0.6 + y * rng.random(n) * 0.5, 0, 1)
    if rounding is not None:
        scores = np.round(scores, rounding)  # ties
    prec, rec, thr = precision_recall_curve(y, scores)
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-300), 0)[:-1]
    pred = scores >= 0.5
    binary.append({
        "scores": scores.tolist(), "labels": y.astype(int).tolist(),
        "average_precision": average_precision_score(y, scores),
        "roc_auc": roc_auc_score(y, scores),
        "precision": precision_score(y, pred, zero_division=0),
        "recall": recall_score(y, pred, zero_division=0),
        "f1": f1_score(y, pred, zero_division=0),
        "best_f1": float(f1.max()),
        "ece": ece(scores, y.astype(float)),
    })

multi = []
for n, classes in [(200, 10), (57, 4)]:
    truth = rng.integers(0, classes, n)
    predicted = np.where(rng.random(n) < 0.6, truth, rng.integers(0, classes, n))
    multi.append({
        "truth": truth.tolist(), "predicted": predicted.tolist(), "classes": classes,
        "accuracy": accuracy_score(truth, predicted),
        "balanced_accuracy": balanced_accuracy_score(truth, predicted),
        "macro_f1": f1_score(truth, predicted, average="macro", zero_division=0),
    })

with open(OUT, "w") as f:
    json.dump({"sklearn": sklearn.__version__, "binary": binary, "multiclass": multi}, f)
print(f"wrote {os.path.normpath(OUT)} with scikit-learn {sklearn.__version__}")
