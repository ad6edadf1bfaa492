"""The architecture and its flattened form: storage levels innermost first, then the compute level.

Flattening follows what Timeloop sees:

* v0.3 tree (and the v0.4 tree timeloopfe writes): Timeloop v3.0.3 `Topology::ParseTreeSpecs`
  (src/model/topology.cpp): instances = product of the ``[a..b]`` ranges on the way down
  (`config::parseElementSize`), storage levels innermost first (each ``local`` list reversed),
  classes recognised by substring (`isBufferClass`: DRAM, SRAM, regfile, smartbuffer, storage;
  `isComputeClass`: mac, intmac, fpmac, compute; networks: XY_NoC, Legacy, ReductionTree,
  SimpleMulticast; anything else is ignored). Mesh: `BufferLevel::ParseSpecs`
  (src/model/buffer.cpp): ``instances`` attribute overrides the count; ``meshX`` given ->
  ``meshY = instances / meshX``; neither -> ``meshX = instances, meshY = 1``. Attributes of
  enclosing subtree nodes are inherited (Accelergy's rule; e.g. ``technology``).
* v0.4 nodes: timeloopfe `version_transpilers/v4_to_v3.py` (`transpile`): one flat ``local``
  list under ``<first container>_top_level`` whose attributes are the ``variables`` updated by
  the first container's attributes; container attributes are inherited (not overriding);
  a container with a fan-out becomes an ``inter_<container>_spatial`` dummy storage (class
  ``dummy_storage``, width/depth/datawidth 1, technology -1) that carries the container's
  spatial constraints plus all-1 temporal factors and a bypass of every data space; every
  component gets ``meshX``/``meshY`` and ``power_gated_at`` attributes and the storage defaults
  of timeloopfe's `StorageAttributes` (n_banks 2, cluster_size 1, reduction_supported,
  multiple_buffering 1, min_utilization 0, allow_overbooking false).
  A *component* with its own ``spatial`` fan-out is replicated with everything after it and the
  fan-out is carried by the storage level above it (Timeloop v0.3 semantics); timeloopfe would
  put an ``inter_<component>_spatial`` dummy there instead (documented deviation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .arch_nodes import BranchNode, ComponentNode, ContainerNode, NodesArch, NothingNode, TreeArch, TreeNode
from .constraints import ConstraintDirective
from .expressions import evaluate_attributes
from .sparse import SparseTarget

BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")
COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute")
NETWORK_CLASSES = ("XY_NoC", "Legacy", "ReductionTree", "SimpleMulticast")

# timeloopfe v4 StorageAttributes defaults (timeloopfe/v4/arch.py)
V4_STORAGE_DEFAULTS = {
    "has_power_gating": False,
    "n_banks": 2,
    "cluster_size": 1,
    "reduction_supported": True,
    "multiple_buffering": 1,
    "min_utilization": 0,
    "allow_overbooking": False,
}
V4_DUMMY_ATTRIBUTES = {"width": 1, "depth": 1, "datawidth": 1, "technology": -1}

_RANGE = re.compile(r"^(?P<base>[^\[]*)\[(?P<lo>\d+)\.\.(?P<hi>\d+)\]$")


def level_kind(class_name: str) -> str:
    """``storage``, ``compute``, ``network`` or ``other``, by Timeloop's substring rules."""
    if any(c in class_name for c in BUFFER_CLASSES):
        return "storage"
    if any(c in class_name for c in COMPUTE_CLASSES):
        return "compute"
    if any(c in class_name for c in NETWORK_CLASSES):
        return "network"
    return "other"


def split_name(name: str) -> tuple[str, int]:
    """``PE[0..167]`` -> (``PE``, 168); a plain name -> (name, 1) (`config::parseElementSize`)."""
    m = _RANGE.match(name.strip())
    if m is None:
        return name.strip(), 1
    lo, hi = int(m.group("lo")), int(m.group("hi"))
    return m.group("base"), max(0, hi - lo + 1)


class ArchError(ValueError):
    """A problem found while flattening (collected with its key path)."""

    def __init__(self, key_path: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.key_path = key_path
        self.fix = fix


def _empty_range(name: str, where: str) -> ArchError:
    """A name whose instance range counts down (``PE[13..0]``): Timeloop's `parseElementSize` counts
    ``hi - lo + 1`` instances, none here."""
    return ArchError(f"{where}.name", f"the instance range of {name.strip()!r} is empty (it counts down)",
                     "write the range as NAME[lo..hi] with lo <= hi, e.g. PE[0..167]")


# --------------------------------------------------------------------------------- flat levels
@dataclass(frozen=True)
class _Level:
    name: str
    path: str
    class_name: str
    subclass: str | None
    attributes: dict[str, Any]
    instances: int
    mesh_x: int
    mesh_y: int
    key_path: str = field(default="", compare=False)

    def attr(self, *names: str, default: Any = None) -> Any:
        for n in names:
            if n in self.attributes and self.attributes[n] is not None:
                return self.attributes[n]
        return default


@dataclass(frozen=True)
class StorageLevel(_Level):
    """A storage level as Timeloop sees it (attributes with underscore keys, numbers evaluated)."""

    kind: str = field(default="storage", compare=False)

    @property
    def is_dram(self) -> bool:
        return "DRAM" in self.class_name or self.attr("technology") == "DRAM"

    @property
    def word_bits(self) -> int:
        return int(self.attr("datawidth", "word_bits", "word_width", default=16))

    @property
    def block_size(self) -> int:
        """Words per row: ``block_size``, else storage width / word bits (buffer.cpp)."""
        block = self.attr("block_size", "n_words")
        if block is not None:
            return int(block)
        width = self.attr("width", "memory_width", "data_storage_width")
        cluster = int(self.attr("cluster_size", default=1) or 1)
        if width is not None and self.word_bits:
            return max(1, int(width) // cluster // self.word_bits)
        return 1

    def capacity_words(self) -> int | None:
        """Data capacity in words (``entries``, ``depth`` x block, ``sizeKB``); None = unbounded (DRAM)."""
        entries = self.attr("entries")
        if entries is not None:
            return int(entries)
        depth = self.attr("depth", "memory_depth", "data_storage_depth")
        if depth is not None:
            return int(depth) * self.block_size
        size_kb = self.attr("sizeKB", "size_kb")
        if size_kb is not None:
            return int(float(size_kb) * 1024 * 8 // self.word_bits)
        return None

    def metadata_capacity_bits(self) -> int | None:
        depth = self.attr("metadata_storage_depth")
        width = self.attr("metadata_storage_width")
        if depth is None or width is None:
            return None
        return int(depth) * int(width)


@dataclass(frozen=True)
class ComputeLevel(_Level):
    """The arithmetic level (MACs)."""

    kind: str = field(default="compute", compare=False)


@dataclass(frozen=True)
class FlatArch:
    """Storage levels innermost first (Timeloop storage level 0 sits right above compute)."""

    storage: list[StorageLevel]
    compute: ComputeLevel
    others: list[_Level] = field(default_factory=list)

    def names(self) -> list[str]:
        """Storage level names, innermost first."""
        return [lv.name for lv in self.storage]

    def level(self, name: str) -> StorageLevel | ComputeLevel:
        for lv in self.storage:
            if lv.name == name:
                return lv
        if self.compute.name == name:
            return self.compute
        raise KeyError(name)

    def fanout(self, i: int) -> tuple[int, int]:
        """Spatial fan-out (X, Y) from storage level ``i`` to its children."""
        child = self.compute if i == 0 else self.storage[i - 1]
        me = self.storage[i]
        return max(1, child.mesh_x // max(1, me.mesh_x)), max(1, child.mesh_y // max(1, me.mesh_y))


@dataclass
class FlatResult:
    """Flattening output: levels plus what v0.4 nodes carry (constraints, sparse optimizations)."""

    arch: FlatArch
    constraints: list[ConstraintDirective]
    sparse_targets: list[SparseTarget]
    top_name: str
    top_attributes: dict[str, Any]
    #: v0.4: container name -> the inter_<container>_spatial level that stands for it in mappings
    container_targets: dict[str, str] = field(default_factory=dict)


def _mesh(instances: int, attrs: dict[str, Any], where: str) -> tuple[int, int, int]:
    """Instances and mesh per `BufferLevel::ParseSpecs` (buffer.cpp) for the tree format."""
    inst = attrs.get("instances")
    n = int(inst) if isinstance(inst, (int, float)) and not isinstance(inst, bool) else instances
    mx, my = attrs.get("meshX"), attrs.get("meshY")
    for key, value in (("meshX", mx), ("meshY", my)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or int(value) != value
        ):
            raise ArchError(
                f"{where}.attributes.{key}",
                f"{key} must be a positive whole number, not {value!r}",
                f"give {key} as a number that divides the instance count {n}",
            )
    if mx is not None and my is not None:
        if int(mx) * int(my) != n:
            raise ArchError(
                f"{where}.attributes",
                f"meshX {mx} x meshY {my} != {n} instances",
                "make meshX * meshY equal the instance count",
            )
        return n, int(mx), int(my)
    if mx is not None:
        if n % int(mx):
            raise ArchError(
                f"{where}.attributes.meshX",
                f"meshX {mx} does not divide the {n} instances",
                f"use a divisor of {n}",
            )
        return n, int(mx), n // int(mx)
    if my is not None:
        if n % int(my):
            raise ArchError(
                f"{where}.attributes.meshY",
                f"meshY {my} does not divide the {n} instances",
                f"use a divisor of {n}",
            )
        return n, n // int(my), int(my)
    return n, n, 1


#: attributes Timeloop reads as numbers (buffer.cpp / arithmetic.cpp ParseSpecs); anything else is free-form
NUMERIC_ATTRIBUTES = (
    "depth",
    "memory_depth",
    "data_storage_depth",
    "width",
    "memory_width",
    "data_storage_width",
    "datawidth",
    "word_bits",
    "block_size",
    "cluster_size",
    "entries",
    "sizeKB",
    "n_banks",
    "num_banks",
    "read_bandwidth",
    "write_bandwidth",
    "shared_bandwidth",
    "multiple_buffering",
    "min_utilization",
    "metadata_storage_depth",
    "metadata_storage_width",
    "metadata_datawidth",
    "metadata_block_size",
    "metadata_counter_width",
    "network_fill_latency",
    "network_drain_latency",
    "instances",
    "meshX",
    "meshY",
)


def _check_numbers(attrs: dict[str, Any], where: str, errors: list[ArchError]) -> bool:
    """Check the numeric and boolean attributes; a boolean written as a word becomes a bool in ``attrs``
    (the model reads them with Python's ``bool``, for which ``'false'`` is true)."""
    ok = True
    for key in BOOLEAN_ATTRIBUTES:
        value = attrs.get(key)
        if value is None:
            continue
        if flag_value(value) is None:
            errors.append(ArchError(f"{where}.attributes.{key}", f"attribute {key} is {value!r}, not true or "
                                    "false", f"give {key} as true or false"))
            ok = False
        else:
            attrs[key] = flag_value(value)
    for key in NUMERIC_ATTRIBUTES:
        value = attrs.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is {value!r}, not a number",
                    f"give {key} as a number (or an expression of variables)",
                )
            )
            ok = False
        elif value != value or value in (float("inf"), float("-inf")):
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is {value}, not a finite number",
                    f"give {key} as a finite number",
                )
            )
            ok = False
        elif value < 0:
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is negative ({value})",
                    f"give {key} as a number >= 0",
                )
            )
            ok = False
        elif value > MAX_ATTRIBUTE:
            # Timeloop reads these as 64-bit integers: a larger value (2^70 bits wide) is a typo or a bomb
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is {value:.4g}, larger than {MAX_ATTRIBUTE:,}, the largest Timeloop can read",
                    f"give {key} a realistic size",
                )
            )
            ok = False
        elif key in WHOLE_ATTRIBUTES and value != int(value):
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is {value}, not a whole number",
                    f"give {key} as a whole number (it counts words, banks or instances)",
                )
            )
            ok = False
        elif value == 0 and key in POSITIVE_ATTRIBUTES:
            # buffer.cpp divides by them (block size = width / word bits): Timeloop would crash
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is 0",
                    f"give {key} as a number >= 1",
                )
            )
            ok = False
        elif value == 0 and key.endswith("bandwidth"):
            # the bandwidth throttle divides by it (BufferLevel::ComputePerformance): a level that moves
            # no word per cycle ran to infinite cycles, an internal error (exit 1)
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is 0: the level could never move a word",
                    f"give {key} in words per cycle, above 0, or leave it out for an unlimited bandwidth",
                )
            )
            ok = False
        elif key == "min_utilization" and value > 1:
            errors.append(
                ArchError(
                    f"{where}.attributes.{key}",
                    f"attribute {key} is {value}, more than 1 (it is a fraction of the level's capacity)",
                    f"give {key} as a fraction in [0, 1]",
                )
            )
            ok = False
    return ok


#: The largest numeric attribute: Timeloop reads them as signed 64-bit integers (yaml-cpp/libconfig).
MAX_ATTRIBUTE = 2**63 - 1

#: attributes Timeloop reads as booleans (buffer.cpp ParseSpecs)
BOOLEAN_ATTRIBUTES = ("allow_overbooking", "compression_supported", "decompression_supported")
#: the words yaml-cpp's ``convert<bool>`` reads (any case), quoted or not: ``'false'`` is false
_FLAG_WORDS = {"true": True, "yes": True, "on": True, "y": True, "false": False, "no": False, "off": False,
               "n": False}


def flag_value(value: Any) -> bool | None:
    """A boolean attribute as Timeloop reads it: a YAML boolean or one of yaml-cpp's words (the string
    ``'false'`` was read as true by Python's ``bool``); None for anything else."""
    if isinstance(value, bool):
        return value
    return _FLAG_WORDS.get(value.strip().lower()) if isinstance(value, str) else None

#: numeric attributes that must be at least 1
POSITIVE_ATTRIBUTES = ("datawidth", "word_bits", "block_size", "cluster_size")

#: counts Timeloop reads into integers (buffer.cpp ParseSpecs: ``std::uint32_t`` / ``unsigned long long``):
#: ``n_banks: 0.3`` or ``depth: 12800.5`` is an edit, and the model must not round it silently
WHOLE_ATTRIBUTES = ("depth", "memory_depth", "data_storage_depth", "entries", "block_size", "cluster_size",
                    "n_banks", "num_banks", "instances", "metadata_storage_depth", "metadata_block_size")


def _make_level(kind: str, **kw: Any) -> _Level:
    if kind == "storage":
        return StorageLevel(**kw)
    if kind == "compute":
        return ComputeLevel(**kw)
    return _Level(**kw)


def _evaluate(
    attrs: dict[str, Any], scope: dict[str, Any], where: str, errors: list[ArchError]
) -> dict[str, Any]:
    out, errs = evaluate_attributes(attrs, scope)
    for e in errs:
        errors.append(
            ArchError(
                f"{where}.attributes",
                f"cannot evaluate attribute {e}",
                "use numbers, variables and arithmetic only",
            )
        )
    return out


def _finish(
    levels_outer_first: list[_Level], errors: list[ArchError], where: str, *, compute_anywhere: bool = False
) -> FlatArch | None:
    """Split the levels into storage (innermost first) and the one compute level.

    ``compute_anywhere`` (v0.3 tree): `Topology::ParseTreeSpecs` makes the arithmetic component level
    0 wherever it sits in its ``local`` list, so a MAC listed before the per-PE registers is still
    below them (timeloop-accelergy-exercises baseline_designs do this).
    """
    storage = [lv for lv in levels_outer_first if isinstance(lv, StorageLevel)]
    computes = [lv for lv in levels_outer_first if isinstance(lv, ComputeLevel)]
    others = [lv for lv in levels_outer_first if not isinstance(lv, (StorageLevel, ComputeLevel))]
    if not computes:
        errors.append(
            ArchError(
                where,
                "the architecture has no compute level (class mac, intmac, fpmac or compute)",
                "add the arithmetic component as the innermost component",
            )
        )
    elif len(computes) > 1:
        errors.append(
            ArchError(
                where,
                f"the architecture has {len(computes)} compute levels "
                f"({', '.join(c.name for c in computes)}); Timeloop models one",
                "keep one compute component",
            )
        )
    if not storage:
        errors.append(
            ArchError(
                where,
                "the architecture has no storage level",
                "add at least one storage component (e.g. class DRAM) above the compute level",
            )
        )
    names = [lv.name for lv in storage] + [c.name for c in computes]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        errors.append(
            ArchError(
                where,
                f"level name(s) {', '.join(dup)} repeat; mapping targets name levels uniquely",
                "rename the levels",
            )
        )
    if storage and computes and not compute_anywhere:
        order = levels_outer_first
        last_storage = max(order.index(s) for s in storage)
        if order.index(computes[0]) < last_storage:
            errors.append(
                ArchError(
                    where,
                    f"compute level {computes[0].name!r} is not the innermost component",
                    "put the compute component after every storage component",
                )
            )
    if errors or not computes:
        return None
    return FlatArch(list(reversed(storage)), computes[0], others)


# ---------------------------------------------------------------------------------- tree format
def flatten_tree(tree: TreeArch, variables: dict[str, Any]) -> FlatResult:
    """Flatten a v0.3 tree (or the v0.4 tree timeloopfe writes)."""
    errors: list[ArchError] = []
    levels: list[_Level] = []
    if tree.local:
        errors.append(
            ArchError(
                "architecture.local",
                "Timeloop ignores components directly under `architecture`",
                "put them in a `subtree` node",
            )
        )
    top_name = tree.subtree[0].name if tree.subtree else "architecture"
    top_attrs: dict[str, Any] = {}

    def walk(
        node: TreeNode, mult: int, inherited: dict[str, Any], prefix: str, where: str, depth: int
    ) -> None:
        nonlocal top_attrs
        _, count = split_name(node.name)
        if count == 0:  # `PE[13..0]`: no instances, a division by zero further on (exit 1)
            errors.append(_empty_range(node.name, where))
            return
        mult *= count
        attrs = _evaluate(node.attributes, {**variables, **inherited}, where, errors)
        scope = {**inherited, **attrs}
        if depth == 0:
            top_attrs = dict(scope)
        path = f"{prefix}.{node.name}" if prefix else node.name
        for i, local in enumerate(node.local):
            lwhere = f"{where}.local[{i}]"
            if local.enabled is False:
                continue
            lbase, lcount = split_name(local.name)
            if lcount == 0:
                errors.append(_empty_range(local.name, lwhere))
                continue
            own = _evaluate(local.attributes, {**variables, **scope}, lwhere, errors)
            merged = {**scope, **own}
            if "version" in merged and merged["version"] is not None:
                merged["version"] = str(merged["version"])
            kind = level_kind(local.class_name)
            if kind in ("storage", "compute") and not _check_numbers(merged, lwhere, errors):
                continue
            try:
                n, mx, my = _mesh(mult * lcount, merged, lwhere)
            except ArchError as exc:
                errors.append(exc)
                continue
            levels.append(
                _make_level(
                    kind,
                    name=lbase,
                    path=f"{path}.{local.name}",
                    class_name=local.class_name,
                    subclass=local.subclass,
                    attributes=merged,
                    instances=n,
                    mesh_x=mx,
                    mesh_y=my,
                    key_path=lwhere,
                )
            )
        if len(node.subtree) > 1:
            errors.append(
                ArchError(
                    f"{where}.subtree",
                    f"{node.name!r} has {len(node.subtree)} subtrees; Timeloop "
                    "supports one subtree per level (topology.cpp ParseTreeSpecs)",
                    "merge them into one subtree",
                )
            )
        for j, sub in enumerate(node.subtree[:1]):
            walk(sub, mult, scope, path, f"{where}.subtree[{j}]", depth + 1)

    if len(tree.subtree) > 1:
        errors.append(
            ArchError("architecture.subtree", "Timeloop supports one subtree per level", "merge the subtrees")
        )
    for j, sub in enumerate(tree.subtree[:1]):
        walk(sub, 1, {}, "", f"architecture.subtree[{j}]", 0)
    flat = _finish(levels, errors, "architecture", compute_anywhere=True)
    if errors:
        raise ArchErrors(errors)
    assert flat is not None
    return FlatResult(flat, [], [], top_name, top_attrs)


class ArchErrors(Exception):
    """Every problem found while flattening."""

    def __init__(self, errors: list[ArchError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


# --------------------------------------------------------------------------------- nodes format
def _directive(c: ConstraintDirective, target: str) -> ConstraintDirective:
    return c.model_copy(update={"target": target})


def flatten_nodes(arch: NodesArch, variables: dict[str, Any], problem: Any = None) -> FlatResult:
    """Flatten timeloopfe v0.4 nodes the way `v4_to_v3.transpile` does (see the module docstring)."""
    errors: list[ArchError] = []
    levels: list[_Level] = []
    constraints: list[ConstraintDirective] = []
    sparse: list[SparseTarget] = []
    top_attrs: dict[str, Any] = dict(variables)
    top_name = "top_level"
    arch_attrs: dict[str, Any] = {}
    mesh_x, mesh_y = 1, 1
    first = True
    cur_power_gating: str | None = None
    add_power_gate_next = False
    last_storage: str | None = None
    container_targets: dict[str, str] = {}

    branch_bypass = _parallel_bypass(arch.nodes, problem, errors)
    spec_names = {"spec": problem.expression_namespace()} if hasattr(problem, "expression_namespace") else {}

    # depth-first list of (node, in_parallel, key path)
    stack: list[tuple[Any, bool, str]] = [
        (n, False, f"architecture.nodes[{i}]") for i, n in enumerate(arch.nodes)
    ]
    while stack:
        node, in_parallel, where = stack.pop(0)
        if isinstance(node, BranchNode):
            par = node.kind == "!Parallel"
            stack = [(n, par, f"{where}.nodes[{i}]") for i, n in enumerate(node.nodes)] + stack
            continue
        if isinstance(node, NothingNode) or not getattr(node, "enabled", True):
            continue
        # timeloopfe evaluates attributes with `spec` in scope too (len(spec.problem.instance))
        scope = {**spec_names, **variables, **arch_attrs}
        own = _evaluate(node.attributes, scope, where, errors)
        fan_x, fan_y = node.spatial.meshX, node.spatial.meshY
        has_fanout = fan_x * fan_y != 1
        if isinstance(node, ContainerNode):
            own.setdefault("has_power_gating", False)
            arch_attrs.update(own)
            if first:
                top_name = f"{node.name}_top_level"
                top_attrs.update(own)
            first = False
            if has_fanout:
                if in_parallel:
                    errors.append(
                        ArchError(
                            where,
                            f"container {node.name!r} under a !Parallel is not supported (timeloopfe)",
                            "move the container out of the !Parallel",
                        )
                    )
                    continue
                dummy = f"inter_{node.name}_spatial"
                container_targets[node.name] = dummy
                attrs = {**V4_DUMMY_ATTRIBUTES, **V4_STORAGE_DEFAULTS, "meshX": mesh_x, "meshY": mesh_y}
                for k, v in arch_attrs.items():
                    attrs.setdefault(k, v)
                attrs.setdefault("power_gated_at", cur_power_gating or dummy)
                levels.append(
                    StorageLevel(
                        name=dummy,
                        path=f"{top_name}.{dummy}[1..{mesh_x * mesh_y}]",
                        class_name="dummy_storage",
                        subclass=None,
                        attributes=attrs,
                        instances=mesh_x * mesh_y,
                        mesh_x=mesh_x,
                        mesh_y=mesh_y,
                        key_path=where,
                    )
                )
                if node.constraints.spatial is not None:
                    constraints.append(_directive(node.constraints.spatial, dummy))
                constraints.extend(dummy_constraints(dummy, problem))
                last_storage = dummy
                mesh_x *= fan_x
                mesh_y *= fan_y
            continue
        assert isinstance(node, ComponentNode)
        kind = level_kind(node.class_name)
        if has_fanout:
            if in_parallel:
                errors.append(
                    ArchError(
                        where,
                        f"component {node.name!r} with a fan-out under a !Parallel is not "
                        "supported (timeloopfe)",
                        "move it out of the !Parallel",
                    )
                )
                continue
            if node.constraints.spatial is not None:
                if last_storage is None:
                    errors.append(
                        ArchError(
                            f"{where}.constraints.spatial",
                            f"no storage level above {node.name!r} carries its fan-out",
                            "put a storage component above it",
                        )
                    )
                else:
                    constraints.append(_directive(node.constraints.spatial, last_storage))
            mesh_x *= fan_x
            mesh_y *= fan_y
        if kind in ("storage", "compute"):
            _check_numbers(own, where, errors)
        attrs = dict(own)
        if kind == "storage":
            for k, v in V4_STORAGE_DEFAULTS.items():
                attrs.setdefault(k, v)
        else:
            attrs.setdefault("has_power_gating", False)
        attrs["meshX"] = mesh_x
        attrs["meshY"] = mesh_y
        for k, v in arch_attrs.items():
            attrs.setdefault(k, v)
        if kind != "network":
            if add_power_gate_next:
                cur_power_gating = node.name
            add_power_gate_next = bool(own.get("has_power_gating", False))
        attrs.setdefault("power_gated_at", cur_power_gating or node.name)
        n = mesh_x * mesh_y
        levels.append(
            _make_level(
                kind,
                name=node.name,
                path=f"{top_name}.{node.name}[1..{n}]",
                class_name=node.class_name,
                subclass=node.subclass,
                attributes=attrs,
                instances=n,
                mesh_x=mesh_x,
                mesh_y=mesh_y,
                key_path=where,
            )
        )
        extra_bypass = branch_bypass.get(id(node))
        if extra_bypass and node.constraints.dataspace is None:
            constraints.append(ConstraintDirective(target=node.name, type="bypass", bypass=extra_bypass))
        for key, c in node.constraints.items():
            if key == "spatial" and has_fanout:
                continue
            if key == "dataspace" and extra_bypass:
                have = list(c.bypass or [])
                c = c.model_copy(update={"bypass": have + [x for x in extra_bypass if x not in have]})
            constraints.append(_directive(c, node.name))
        if node.sparse_optimizations is not None:
            sparse.append(node.sparse_optimizations.model_copy(update={"name": node.name}))
        if kind == "storage":
            last_storage = node.name
        if kind == "other":
            errors.append(
                ArchError(
                    f"{where}.class",
                    f"unknown component class {node.class_name!r}; timeloopfe "
                    f"accepts classes containing one of {', '.join(BUFFER_CLASSES + COMPUTE_CLASSES + NETWORK_CLASSES)} or 'nothing'",
                    "use a storage, compute or network class",
                )
            )
    if "version" in top_attrs and top_attrs["version"] is not None:
        top_attrs["version"] = str(top_attrs["version"])
    # the transpiled tree's top-level attributes (variables + first container) reach every level
    levels = [_with_top(lv, top_attrs) for lv in levels]
    flat = _finish(levels, errors, "architecture.nodes")
    if errors:
        raise ArchErrors(errors)
    assert flat is not None
    return FlatResult(flat, constraints, sparse, top_name, top_attrs, container_targets)


def _leaves(node: Any) -> list[Any]:
    if isinstance(node, BranchNode):
        return [leaf for n in node.nodes for leaf in _leaves(n)]
    return [node]


def _parallel_bypass(nodes: list[Any], problem: Any, errors: list[ArchError]) -> dict[int, list[str]]:
    """timeloopfe `Dataspace2BranchProcessor`: in a !Parallel, each branch keeps only its data spaces.

    Every leaf of a branch bypasses the data spaces the branch does not keep; a data space kept in
    two branches, or in none, is an error. Returns extra bypass lists by leaf identity.
    """
    out: dict[int, list[str]] = {}
    if problem is None:
        return out
    all_ds = [ds.name for ds in problem.shape.data_spaces]

    def kept(node: Any) -> set[str]:
        found: set[str] = set()
        for leaf in _leaves(node):
            c = getattr(getattr(leaf, "constraints", None), "dataspace", None)
            if c is not None:
                found.update(c.keep or [])
        return found

    def visit(node_list: list[Any], parallel: bool, dataspaces: set[str], name: str) -> None:
        if parallel:
            keeps = [kept(n) for n in node_list]
            for i in range(len(node_list)):
                for j in range(i + 1, len(node_list)):
                    shared = keeps[i] & keeps[j]
                    if shared:
                        errors.append(
                            ArchError(
                                name,
                                f"data space(s) {', '.join(sorted(shared))} are kept in two "
                                "branches of a !Parallel (timeloopfe allows one)",
                                "keep each data space in one branch",
                            )
                        )
            remaining = dataspaces - set().union(*keeps) if keeps else set()
            if remaining:
                errors.append(
                    ArchError(
                        name,
                        f"no branch of the !Parallel keeps {', '.join(sorted(remaining))}",
                        "add a keep constraint for it to one branch",
                    )
                )
            for n, keep in zip(node_list, keeps):
                bypass = [d for d in all_ds if d not in keep]
                for leaf in _leaves(n):
                    out.setdefault(id(leaf), [])
                    out[id(leaf)] += [d for d in bypass if d not in out[id(leaf)]]
                if isinstance(n, BranchNode):
                    visit(n.nodes, n.kind == "!Parallel", keep, name)
        else:
            for n in node_list:
                if isinstance(n, BranchNode):
                    visit(n.nodes, n.kind == "!Parallel", dataspaces, name)

    visit(list(nodes), False, set(all_ds), "architecture.nodes")
    return out


def _with_top(level: _Level, top: dict[str, Any]) -> _Level:
    from dataclasses import replace

    return replace(level, attributes={**top, **level.attributes})


def dummy_constraints(target: str, problem: Any) -> list[ConstraintDirective]:
    """timeloopfe `dummy_constraints`: all temporal factors 1 and every data space bypassed."""
    if problem is None:
        return []
    dims = list(problem.shape.dimensions)
    return [
        ConstraintDirective(target=target, type="temporal", factors={d: 1 for d in dims}, permutation=dims),
        ConstraintDirective(
            target=target, type="bypass", bypass=[ds.name for ds in problem.shape.data_spaces]
        ),
    ]


# --------------------------------------------------------------------------------- Architecture
class Architecture:
    """An architecture as written (v0.3 tree or v0.4 nodes) plus the variables its expressions use."""

    def __init__(
        self, tree: TreeArch | NodesArch, variables: dict[str, Any] | None = None, source: str | None = None
    ) -> None:
        self.tree = tree
        self.variables = dict(variables or {})
        self.source = source
        self._flat: dict[int, FlatResult] = {}
        self._problem: Any = None

    @property
    def dialect(self) -> str:
        """``tree`` (subtree/local) or ``nodes`` (timeloopfe v0.4)."""
        return "nodes" if isinstance(self.tree, NodesArch) else "tree"

    @property
    def version(self) -> str:
        v = str(self.tree.version)
        return "0.4" if v.startswith("0.4") else "0.3" if v.startswith("0.3") else v

    @property
    def name(self) -> str:
        if isinstance(self.tree, TreeArch):
            if not self.tree.subtree:
                return "architecture"
            base = self.tree.subtree[0].name
            return base[: -len("_top_level")] if base.endswith("_top_level") else split_name(base)[0]
        for node in self.tree.nodes:
            if isinstance(node, ContainerNode):
                return node.name
        return "architecture"

    def flat_result(self, problem: Any = None) -> FlatResult:
        """Flatten (cached per problem: v0.4 dummy constraints list the problem's dimensions)."""
        if problem is not None:
            self._problem = problem  # flatten() then sees what the loader saw (spec.* expressions)
        key = id(problem)
        if key not in self._flat:
            if isinstance(self.tree, TreeArch):
                self._flat[key] = flatten_tree(self.tree, self.variables)
            else:
                self._flat[key] = flatten_nodes(self.tree, self.variables, problem)
        return self._flat[key]

    def flatten(self) -> FlatArch:
        """The levels as Timeloop sees them, storage innermost first (raises SpecError if invalid)."""
        from ..errors import Problem, SpecError

        try:
            return self.flat_result(self._problem).arch
        except ArchErrors as exc:
            raise SpecError(
                exc.errors[0].args[0],
                problems=[Problem(e.args[0], self.source, e.key_path, e.fix) for e in exc.errors],
            ) from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Architecture):
            return NotImplemented
        return self.tree == other.tree and self.variables == other.variables

    def __repr__(self) -> str:
        return f"Architecture(name={self.name!r}, version={self.version!r}, dialect={self.dialect!r})"
