"""The architecture as written: the v0.3 tree (`subtree`/`local`) and the v0.4 node list (`nodes`).

v0.3 tree: Timeloop v3.0.3 `Topology::ParseTreeSpecs` (src/model/topology.cpp) walks
``subtree[0]`` repeatedly (one subtree per level), each ``local`` list outermost first; the
transpiled v0.4 tree that timeloopfe hands Timeloop has the same shape (with ``version: 0.4``,
``required_actions`` and ``enabled``). v0.4 nodes: timeloopfe `timeloopfe/v4/arch.py`
(`!Container`, `!Component`, `!Parallel`, `!Hierarchical`, `!Pipelined`, `!Nothing`; leaves with
``attributes``, ``spatial: {meshX, meshY}``, ``constraints``, ``sparse_optimizations``).
"""

from typing import Annotated, Any, ClassVar

import msgspec

from .base import SpecModel, norm_key
from .constraints import ConstraintDirective
from .sparse import SparseTarget


def _attrs(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, dict):
        return {norm_key(k): v for k, v in value.items()}
    return value


# ----------------------------------------------------------------------------- v0.3 tree format
class LocalNode(SpecModel, kw_only=True):
    """A component of a v0.3 ``local`` list (storage, compute, network or anything Accelergy knows)."""

    name: str
    class_name: str
    subclass: str | None = None
    attributes: dict[str, Any] = {}
    required_actions: list[str] | None = None
    enabled: bool | None = None
    area_share: Any = None

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}
    field_hooks: ClassVar[dict[str, Any]] = {"attributes": _attrs}


class TreeNode(SpecModel, kw_only=True):
    """A v0.3 ``subtree`` node: replicated ``name[0..N-1]``, attributes inherited by its components."""

    name: str
    attributes: dict[str, Any] = {}
    local: list[LocalNode] = []
    subtree: "list[TreeNode]" = []

    field_hooks: ClassVar[dict[str, Any]] = {
        "attributes": _attrs, "local": lambda v: [] if v is None else v, "subtree": lambda v: [] if v is None else v}


class TreeArch(SpecModel, kw_only=True):
    """``architecture: {version, subtree}`` (v0.3, or the v0.4 tree timeloopfe hands Timeloop)."""

    version: str
    subtree: list[TreeNode] = []
    local: list[LocalNode] = []

    field_hooks: ClassVar[dict[str, Any]] = {"version": lambda v: str(v) if v is not None else v}


# ----------------------------------------------------------------------------- v0.4 node format
class Spatial(SpecModel, kw_only=True):
    """A leaf's fan-out: ``meshX`` x ``meshY`` copies of everything below it."""

    meshX: Annotated[int, msgspec.Meta(ge=1)] = 1
    meshY: Annotated[int, msgspec.Meta(ge=1)] = 1

    @property
    def fanout(self) -> int:
        return self.meshX * self.meshY


class NodeConstraints(SpecModel, kw_only=True):
    """In-node constraints (timeloopfe `ConstraintGroup`); targets are filled in when flattening."""

    spatial: ConstraintDirective | None = None
    temporal: ConstraintDirective | None = None
    dataspace: ConstraintDirective | None = None
    max_overbooked_proportion: ConstraintDirective | None = None
    utilization: ConstraintDirective | None = None

    @classmethod
    def prepare(cls, data: Any) -> Any:
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
        return [(k, getattr(self, k)) for k in self.__struct_fields__ if getattr(self, k) is not None]


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


class _Node(SpecModel, tag_field="kind", kw_only=True):
    """A v0.4 node; its YAML tag (``!Component``...) is its ``kind`` (msgspec's tag, picked by `tag_nodes`)."""

    @property
    def kind(self) -> str:
        return self.__struct_config__.tag


class ComponentNode(_Node, tag="!Component", kw_only=True):
    """``!Component``: a storage, compute or network component."""

    name: str
    class_name: str
    subclass: str | None = None
    attributes: dict[str, Any] = {}
    spatial: Spatial = msgspec.field(default_factory=Spatial)
    constraints: NodeConstraints = msgspec.field(default_factory=NodeConstraints)
    sparse_optimizations: SparseTarget | None = None
    required_actions: list[str] = []
    area_share: float | None = None
    enabled: bool = True

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}

    @classmethod
    def prepare(cls, data: Any) -> Any:
        return _in_node_sparse(data)


class ContainerNode(_Node, tag="!Container", kw_only=True):
    """``!Container``: a group whose ``spatial`` fan-out replicates everything after it."""

    name: str
    attributes: dict[str, Any] = {}
    spatial: Spatial = msgspec.field(default_factory=Spatial)
    constraints: NodeConstraints = msgspec.field(default_factory=NodeConstraints)
    sparse_optimizations: SparseTarget | None = None
    networks: list[Any] = []
    enabled: bool = True

    @classmethod
    def prepare(cls, data: Any) -> Any:
        return _in_node_sparse(data)


class NothingNode(_Node, tag="!Nothing", kw_only=True):
    """``!Nothing``: a placeholder that timeloopfe skips.

    timeloopfe's `Nothing` is a `Component`, so it may carry ``constraints``: its ``dataspace`` keep
    list tells `Dataspace2BranchProcessor` which data spaces a !Parallel's empty branch takes (the
    other branches bypass them, e.g. simba_like's Inputs); `v4_to_v3.transpile` then drops the node
    and its constraints, and so does the flattening here.
    """

    name: str = "nothing"
    class_name: str = "nothing"
    attributes: dict[str, Any] = {}
    constraints: NodeConstraints = msgspec.field(default_factory=NodeConstraints)

    key_aliases: ClassVar[dict[str, str]] = {"class": "class_name"}


class BranchNode(_Node, kw_only=True):
    """``!Parallel`` / ``!Hierarchical`` / ``!Pipelined``: a list of nodes (one subclass per tag)."""

    nodes: "list[ArchNode]" = []

    field_hooks: ClassVar[dict[str, Any]] = {"nodes": lambda v: tag_nodes(v)}


class ParallelNode(BranchNode, tag="!Parallel", kw_only=True):
    """``!Parallel``: branches side by side (each data space goes to one branch)."""


class HierarchicalNode(BranchNode, tag="!Hierarchical", kw_only=True):
    """``!Hierarchical``: nodes one inside the next."""


class PipelinedNode(BranchNode, tag="!Pipelined", kw_only=True):
    """``!Pipelined``: nodes in a pipeline."""


ArchNode = ComponentNode | ContainerNode | ParallelNode | HierarchicalNode | PipelinedNode | NothingNode

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


class NodesArch(SpecModel, kw_only=True):
    """``architecture: {version: 0.4, nodes: [...]}`` (timeloopfe v0.4)."""

    version: str = "0.4"
    nodes: list[ArchNode] = []

    field_hooks: ClassVar[dict[str, Any]] = {
        "version": lambda v: str(v) if v is not None else v, "nodes": lambda v: tag_nodes(v)}
