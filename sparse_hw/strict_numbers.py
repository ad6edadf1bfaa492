"""Refuse a YAML boolean where a configuration wants a number.

pydantic's lax mode reads ``true`` as 1 for an ``int`` or ``float`` field, so ``epochs: true`` trained one
epoch and ``calib_samples: true`` calibrated on one sample, with exit 0 (issue 15, item 4). The run,
search and train configurations derive from :class:`NoBoolNumbers`, which calls :func:`no_bool_for_number`
before validating each field. (The Timeloop-style spec models, the mapper settings among them, are msgspec
models, which never read a boolean as a number: `sparse_hw.spec.base`.)
"""

from __future__ import annotations

import types
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationInfo, field_validator


def _numeric(annotation: Any) -> bool:
    """``int``, ``float`` or an optional/union of them (a union that also takes ``bool`` keeps booleans)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) not in (Union, types.UnionType):
        return False
    args = get_args(annotation)
    return bool not in args and any(a in (int, float) for a in args)


def no_bool_for_number(cls: Any, value: Any, field_name: str | None) -> Any:
    """``value`` unchanged, unless it is a boolean given for a numeric field of ``cls`` (ValueError)."""
    if isinstance(value, bool) and field_name is not None:
        field = cls.model_fields.get(field_name)
        if field is not None and _numeric(field.annotation):
            raise ValueError(f"{str(value).lower()} is a boolean, not a number")
    return value


class NoBoolNumbers(BaseModel):
    """A model base whose numeric fields refuse a boolean (`no_bool_for_number`); other fields are untouched."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        return no_bool_for_number(cls, value, info.field_name)
