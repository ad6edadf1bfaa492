"""Accuracy, macro-F1 and measured CPU inference latency of a model (no training logic)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class EvalResult:
    """Test-split quality of a model."""

    accuracy: float
    macro_f1: float
    loss: float
    samples: int


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes present in ``y_true`` or ``y_pred`` (sklearn's
    ``f1_score(average="macro")``); a class with no true or predicted sample is not counted."""
    labels = np.union1d(y_true, y_pred)
    if labels.size == 0:
        return 0.0
    scores = []
    for c in labels:
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


def predict(model: nn.Module, batches) -> tuple[np.ndarray, np.ndarray, float]:
    """Predicted and true labels plus the mean cross-entropy over ``(x, y)`` batches, in eval mode."""
    was_training = model.training
    model.eval()
    preds, trues, loss_sum, n = [], [], 0.0, 0
    with torch.inference_mode():
        for x, y in batches:
            logits = model(x)
            loss_sum += float(nn.functional.cross_entropy(logits, y, reduction="sum"))
            preds.append(logits.argmax(1).numpy())
            trues.append(y.numpy())
            n += len(y)
    model.train(was_training)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0.0
    return np.concatenate(preds), np.concatenate(trues), loss_sum / n


def evaluate(model: nn.Module, batches) -> EvalResult:
    """Top-1 accuracy, macro-F1 and mean loss over ``(x, y)`` batches."""
    pred, true, loss = predict(model, batches)
    acc = float(np.mean(pred == true)) if len(true) else 0.0
    return EvalResult(acc, macro_f1(true, pred), loss, len(true))


def measure_latency(models: Mapping[str, nn.Module], input_shape: Sequence[int], *,
                    batch_sizes: Sequence[int] = (1, 32), repeats: int = 5, warmup: int = 2) -> dict[str, dict[int, float]]:
    """Median wall time in milliseconds of one eval-mode forward pass, per model and batch size (CPU).

    The models run interleaved (one timed pass of each per round), so that they see the same machine
    load and their ratio is fair on a shared machine. Inputs are fixed random tensors; the median of
    ``repeats`` rounds follows ``warmup`` untimed rounds.
    """
    modes = {name: m.training for name, m in models.items()}
    for m in models.values():
        m.eval()
    gen = torch.Generator().manual_seed(0)
    out: dict[str, dict[int, float]] = {name: {} for name in models}
    with torch.inference_mode():
        for b in batch_sizes:
            x = torch.randn(b, *input_shape, generator=gen)
            times: dict[str, list[float]] = {name: [] for name in models}
            for round_ in range(warmup + max(1, repeats)):
                for name, m in models.items():
                    start = time.perf_counter()
                    m(x)
                    if round_ >= warmup:
                        times[name].append((time.perf_counter() - start) * 1e3)
            for name in models:
                out[name][int(b)] = statistics.median(times[name])
    for name, m in models.items():
        m.train(modes[name])
    return out
