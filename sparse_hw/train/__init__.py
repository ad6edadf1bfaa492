"""Train and prune networks, producing honest checkpoints (tensors-only state_dict + metadata).

Models and pruning methods are chosen by name from registries (:mod:`.models`, :mod:`.prune`);
datasets by spec (:mod:`.data`); :func:`train` runs one configuration end to end.
"""

from __future__ import annotations

from .api import ModelFigures, TrainResult, train
from .checkpoint import CheckpointMeta, build_model, load_checkpoint, save_checkpoint
from .config import TrainConfig, load_train_config
from .data import DatasetBundle, adapt_model_kwargs, calibration_batches, load_dataset
from .models import MODELS, create_model, list_models, model_entry, register_model

__all__ = [
    "MODELS",
    "CheckpointMeta",
    "DatasetBundle",
    "ModelFigures",
    "TrainConfig",
    "TrainResult",
    "adapt_model_kwargs",
    "build_model",
    "calibration_batches",
    "create_model",
    "list_models",
    "load_checkpoint",
    "load_dataset",
    "load_train_config",
    "model_entry",
    "register_model",
    "save_checkpoint",
    "train",
]
