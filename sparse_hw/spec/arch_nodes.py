"""The architecture as written: the v0.3 tree (`subtree`/`local`) and the v0.4 node list (`nodes`).

v0.3 tree: Timeloop v3.0.3 `Topology::ParseTreeSpecs` (src/model/topology.cpp) walks
``subtree[0]`` repeatedly (one subtree per level), each ``local`` list outermost first; the
transpiled v0.4 tree that timeloopfe hands Timeloop has the same shape (with ``version: 0.4``,
``required_actions`` and ``enabled``). v0.4 nodes: timeloopfe `timeloopfe/v4/arch.py`
(`!Container`, `!Component`, `!Parallel`, `!Hierarchical`, `!Pipelined`, `!Nothing`; leaves with
``attributes``, ``spatial: {meshX, meshY}``, ``constraints``, ``sparse_optimizations``).
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from .base import SpecModel, new_list, norm_key
from .constraints import ConstraintDirective
from .sparse import SparseTarget


def _attrs(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {norm_key(k): v for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- v0.3 tree format
class LocalNode(SpecModel):
    """A component of a v0.3 ``local`` list (storage, compute, network or anything Accelergy knows)."""

    name: str
    class_name: str
    subclass: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    required_actions: list[str] | None = None
    enabled: bool | None = None
    area_share: Any = None

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}

    _a = field_validator("attributes", mode="before")(classmethod(lambda cls, v: _attrs(v)))


class TreeNode(SpecModel):
    """A v0.3 ``subtree`` node: replicated ``name[0..N-1]``, attributes inherited by its components."""

    name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    local: list[LocalNode] = Field(default_factory=new_list)
    subtree: list[TreeNode] = Field(default_factory=new_list)

    _a = field_validator("attributes", mode="before")(classmethod(lambda cls, v: _attrs(v)))

    @field_validator("local", "subtree", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return [] if value is None else value


class TreeArch(SpecModel):
    """``architecture: {version, subtree}`` (v0.3, or the v0.4 tree timeloopfe hands Timeloop)."""

    version: str
    subtree: list[TreeNode] = Field(default_factory=new_list)
    local: list[LocalNode] = Field(default_factory=new_list)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return str(value) if value is not None else value


# ----------------------------------------------------------------------------- v0.4 node format
class Spatial(SpecModel):
    """A leaf's fan-out: ``meshX`` x ``meshY`` copies of everything below it."""

    meshX: int = Field(default=1, ge=1)
    meshY: int = Field(default=1, ge=1)

    @property
    def fanout(self) -> int:
        return self.meshX * self.meshY


class NodeConstraints(SpecModel):
    """In-node constraints (timeloopfe `ConstraintGroup`); targets are filled in when flattening."""

    spatial: ConstraintDirective | None = None
    temporal: ConstraintDirective | None = None
    dataspace: ConstraintDirective | None = None
    max_overbooked_proportion: ConstraintDirective | None = None
    utilization: ConstraintDirective | None = None

    @model_validator(mode="before")
    @classmethod
    def _typed(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {}
        for key, value in data.items():
            k = norm_key(key)
            if isinstance(value, dict):
                value = {norm_key(a): b for a, b in value.items()}
                value.setdefault("type", k)
                value.setdefault("target", "")
                if k == "max_overbooked_proportion" and "proportion" in value:
                    value["max_overbooked_proportion"] = value.pop("proportion")
            elif value is None:
                continue
            out[k] = value
        return out

    def items(self) -> list[tuple[str, ConstraintDirective]]:
        return [(k, getattr(self, k)) for k in type(self).model_fields if getattr(self, k) is not None]


def _in_node_sparse(data: Any) -> Any:
    if isinstance(data, dict):
        data = {norm_key(k): v for k, v in data.items()}
        so = data.get("sparse_optimizations")
        if isinstance(so, dict):
            data["sparse_optimizations"] = {
                "name": data.get("name", "?"),
                **{norm_key(k): v for k, v in so.items()},
            }
        elif so is None:
            data.pop("sparse_optimizations", None)
        if "attributes" in data:
            data["attributes"] = _attrs(data["attributes"])
        for key in ("spatial", "constraints"):
            if key in data and data[key] is None:
                data.pop(key)
    return data


class ComponentNode(SpecModel):
    """``!Component``: a storage, compute or network component."""

    kind: Literal["!Component"] = "!Component"
    name: str
    class_name: str
    subclass: str | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    spatial: Spatial = Field(default_factory=Spatial)
    constraints: NodeConstraints = Field(default_factory=NodeConstraints)
    sparse_optimizations: SparseTarget | None = None
    required_actions: list[str] = Field(default_factory=new_list)
    area_share: float | None = None
    enabled: bool = True

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}

    _s = model_validator(mode="before")(classmethod(lambda cls, d: _in_node_sparse(d)))


class ContainerNode(SpecModel):
    """``!Container``: a group whose ``spatial`` fan-out replicates everything after it."""

    kind: Literal["!Container"] = "!Container"
    name: str
    attributes: dict[str, Any] = Field(default_factory=dict)
    spatial: Spatial = Field(default_factory=Spatial)
    constraints: NodeConstraints = Field(default_factory=NodeConstraints)
    sparse_optimizations: SparseTarget | None = None
    networks: list[Any] = Field(default_factory=new_list)
    enabled: bool = True

    _s = model_validator(mode="before")(classmethod(lambda cls, d: _in_node_sparse(d)))


class NothingNode(SpecModel):
    """``!Nothing``: a placeholder that timeloopfe skips.

    timeloopfe's `Nothing` is a `Component`, so it may carry ``constraints``: its ``dataspace`` keep
    list tells `Dataspace2BranchProcessor` which data spaces a !Parallel's empty branch takes (the
    other branches bypass them, e.g. simba_like's Inputs); `v4_to_v3.transpile` then drops the node
    and its constraints, and so does the flattening here.
    """

    kind: Literal["!Nothing"] = "!Nothing"
    name: str = "nothing"
    class_name: str = "nothing"
    attributes: dict[str, Any] = Field(default_factory=dict)
    constraints: NodeConstraints = Field(default_factory=NodeConstraints)

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}


class BranchNode(SpecModel):
    """``!Parallel`` / ``!Hierarchical`` / ``!Pipelined``: a list of nodes."""

    kind: Literal["!Parallel", "!Hierarchical", "!Pipelined"]
    nodes: list[ArchNode] = Field(default_factory=new_list)

    @field_validator("nodes", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return tag_nodes(value)


ArchNode = Annotated[ComponentNode | ContainerNode | BranchNode | NothingNode, Field(discriminator="kind")]

TAGS = {"!Component", "!Container", "!Parallel", "!Hierarchical", "!Pipelined", "!Nothing"}


def tag_nodes(value: Any) -> Any:
    """Give each raw node its ``kind`` from its YAML tag (or infer it for an untagged node)."""
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, dict) and "kind" not in item:
            tag = getattr(item, "tag", None)
            if tag is None:
                keys = {norm_key(k) for k in item}
                tag = (
                    "!Hierarchical" if "nodes" in keys else "!Component" if "class" in keys else "!Container"
                )
            new = dict(item)
            new["kind"] = tag
            out.append(new)
        else:
            out.append(item)
    return out


class NodesArch(SpecModel):
    """``architecture: {version: 0.4, nodes: [...]}`` (timeloopfe v0.4)."""

    version: str = "0.4"
    nodes: list[ArchNode] = Field(default_factory=new_list)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        return str(value) if value is not None else value

    @field_validator("nodes", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        return tag_nodes(value)


# No model_rebuild() here: SpecModel defers building (spec/base.py), so the forward references above
# resolve when a model first validates; a rebuild here would build every validator at import.
