"""The train/eval loop: seeded shuffling, one optimizer per phase, masks re-applied after every step.

No pruning logic lives here; pruning methods hook in through ``on_step`` (called after each optimizer
step, e.g. to advance a GMP schedule) and ``extra_loss`` (e.g. the ADMM augmented penalty).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset

from ._readers import ArrayDataset
from .metrics import EvalResult, evaluate


@dataclass(frozen=True)
class TrainProgress:
    """One progress event: where training is and how it goes (sent to the ``progress`` callback)."""

    phase: str
    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float | None = None
    accuracy: float | None = None


@dataclass(frozen=True)
class EpochLog:
    """Mean training loss of one epoch and the test accuracy after it."""

    phase: str
    epoch: int
    loss: float
    test_accuracy: float
    lr: float


def iterate_batches(dataset: Dataset, batch_size: int, *, generator: torch.Generator | None = None,
                    drop_singleton: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(x, y)`` batches in a seeded random order (``generator``) or in order (None).

    ``drop_singleton`` skips a final batch of one sample, which batch norm cannot train on.
    """
    n = len(dataset)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if drop_singleton and len(idx) < 2:
            break
        if isinstance(dataset, ArrayDataset):
            yield dataset.x[idx], dataset.targets[idx]
        else:
            items = [dataset[int(i)] for i in idx]
            yield torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


class Trainer:
    """Trains a model on one dataset bundle; every phase gets its own optimizer and cosine schedule."""

    def __init__(self, bundle, *, batch_size: int, seed: int, optimizer: str = "adam", momentum: float = 0.9,
                 weight_decay: float = 0.0, progress: Callable[[TrainProgress], None] | None = None) -> None:
        self.bundle, self.batch_size, self.seed = bundle, batch_size, seed
        self.optimizer, self.momentum, self.weight_decay = optimizer, momentum, weight_decay
        self.progress = progress
        self.history: list[EpochLog] = []
        self._phase_index = 0

    @property
    def steps_per_epoch(self) -> int:
        n = len(self.bundle.train)
        full, rest = divmod(n, self.batch_size)
        return full + (1 if rest >= 2 else 0)

    def _make_optimizer(self, model: nn.Module, lr: float) -> torch.optim.Optimizer:
        params = [p for p in model.parameters() if p.requires_grad]
        if self.optimizer == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=self.momentum, weight_decay=self.weight_decay)
        return torch.optim.Adam(params, lr=lr, weight_decay=self.weight_decay)

    def evaluate(self, model: nn.Module) -> EvalResult:
        return evaluate(model, iterate_batches(self.bundle.test, 256))

    def fit(self, model: nn.Module, *, epochs: int, lr: float, phase: str, masks=None,
            on_step: Callable[[int], None] | None = None,
            extra_loss: Callable[[nn.Module], torch.Tensor] | None = None) -> list[EpochLog]:
        """Train ``epochs`` epochs; after each optimizer step apply ``masks`` and call ``on_step(step)``.

        The step counter starts at 0 for every phase; the learning rate follows a cosine from ``lr``
        to ``lr / 100`` over the phase.
        """
        self._phase_index += 1
        if epochs <= 0:
            return []
        opt = self._make_optimizer(model, lr)
        total = epochs * self.steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
        if masks is not None:
            masks.apply(model)
        logs, step = [], 0
        for epoch in range(epochs):
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self._phase_index * 1009 + epoch)
            model.train()
            loss_sum, seen = 0.0, 0
            for x, y in iterate_batches(self.bundle.train, self.batch_size, generator=gen, drop_singleton=True):
                opt.zero_grad(set_to_none=True)
                loss = nn.functional.cross_entropy(model(x), y)
                total_loss = loss + extra_loss(model) if extra_loss is not None else loss
                total_loss.backward()
                opt.step()
                sched.step()
                if masks is not None:
                    masks.apply(model)
                if on_step is not None:
                    on_step(step)
                step += 1
                loss_sum += loss.item() * len(y)
                seen += len(y)
                if self.progress is not None:
                    self.progress(TrainProgress(phase, epoch + 1, epochs, step, total, loss.item()))
            result = self.evaluate(model)
            log = EpochLog(phase, epoch + 1, loss_sum / max(seen, 1), result.accuracy, opt.param_groups[0]["lr"])
            logs.append(log)
            if self.progress is not None:
                self.progress(TrainProgress(phase, epoch + 1, epochs, step, total, log.loss, result.accuracy))
        self.history.extend(logs)
        return logs
