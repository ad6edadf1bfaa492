"""Model registry: every trainable network is chosen by name.

``@register_model`` records a factory with its default keyword arguments and input kind;
``create_model`` validates the name (close-match hint) and the keyword arguments before building.
Importing this package registers the built-in models (lenet5, resnet18, mobilenetv2, pointnet2, vit).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from torch import nn

from ...errors import ConfigError
from ...registry import Registry

InputKind = Literal["image", "points"]


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: how to build it and what it eats."""

    name: str
    factory: Callable[..., nn.Module]
    default_kwargs: Mapping[str, Any]
    input_kind: str
    summary: str = field(default="")


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(name: str, *, default_kwargs: dict, input_kind: str) -> Callable:
    """Register a model factory under ``name``.

    Args:
        name: registry key (used in configs, the CLI and checkpoints).
        default_kwargs: every keyword the factory accepts, with its default; ``create_model``
            rejects any other keyword.
        input_kind: ``"image"`` (``[B, C, H, W]``) or ``"points"`` (``[B, C, N]``).
    """
    if input_kind not in ("image", "points"):
        raise ValueError(f"input_kind must be 'image' or 'points', not {input_kind!r}")

    def deco(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        doc = (factory.__doc__ or "").strip().splitlines()
        MODELS.add(
            name,
            ModelEntry(name, factory, MappingProxyType(dict(default_kwargs)), input_kind, doc[0] if doc else ""),
        )
        return factory

    return deco


def model_entry(name: str) -> ModelEntry:
    """The registry entry of ``name`` (``SparseHwError`` with the closest names on a miss)."""
    return MODELS.get(name)


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a glob pattern, sorted."""
    return MODELS.list(pattern)


def resolve_model_kwargs(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults of ``name`` updated with ``kwargs``; unknown keywords raise ``ConfigError``."""
    entry = model_entry(name)
    unknown = sorted(set(kwargs) - set(entry.default_kwargs))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, list(entry.default_kwargs), n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(
            f"model {name!r} does not take {', '.join(hints)}",
            key_path="model_kwargs",
            fix=f"use only: {', '.join(sorted(entry.default_kwargs))}",
        )
    return {**entry.default_kwargs, **dict(kwargs)}


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with its defaults overridden by ``kwargs``."""
    entry = model_entry(name)
    full = resolve_model_kwargs(name, kwargs)
    try:
        return entry.factory(**full)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot build model {name!r} with {full}: {exc}",
            key_path="model_kwargs",
            fix="check the model arguments against `sparse-hw train --help`",
        ) from exc


# Registration happens on import; the order here is the order nothing depends on.
from . import lenet5, mobilenetv2, pointnet2, resnet18, vit  # noqa: F401

__all__ = [
    "MODELS",
    "ModelEntry",
    "create_model",
    "list_models",
    "model_entry",
    "register_model",
    "resolve_model_kwargs",
]
