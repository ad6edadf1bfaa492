"""Writing a `Spec` back out: Timeloop v0.3 (hyphenated keys, tree) or timeloopfe v0.4 (underscores, nodes).

The v0.3 form is what Timeloop v3.0.3 reads (it looks keys up by their hyphenated names, see the
reference README's pitfalls); a v0.4 node architecture is transpiled into the tree timeloopfe
hands Timeloop (`v4_to_v3.transpile`). The v0.4 form keeps a node architecture as written and
turns a tree into nodes (one `!Component` per level, its fan-out as the component's ``spatial``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..io import atomic_write
from .arch import ComputeLevel, StorageLevel
from .arch_nodes import BranchNode, ComponentNode, NodesArch, NothingNode, TreeArch, TreeNode
from .constraints import ConstraintDirective
from .directives import format_factors
from .mapping import MappingDirective
from .spec import Spec

DIALECTS = ("v0.3", "v0.4")


class Tagged(dict):
    """A mapping written with a YAML tag (``!Container``...)."""

    def __init__(self, tag: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # libyaml's emitter when available (fast)
    pass


def _repr_tagged(dumper: yaml.SafeDumper, data: Tagged) -> yaml.Node:
    return dumper.represent_mapping(data.tag, dict(data))


def _repr_list_flow(dumper: yaml.SafeDumper, data: Flow) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", list(data), flow_style=True)


class Flow(list):
    """A short list written inline (``[R, S, P]``)."""


_Dumper.add_representer(Tagged, _repr_tagged)
_Dumper.add_representer(Flow, _repr_list_flow)


def to_yaml(data: Any) -> str:
    """YAML text of plain data with tags and inline short lists preserved."""
    return yaml.dump(_plain(data), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=110)


def _plain(obj: Any) -> Any:
    if isinstance(obj, Tagged):
        return Tagged(obj.tag, {k: _plain(v) for k, v in obj.items()})
    if isinstance(obj, Flow):
        return Flow(_plain(v) for v in obj)
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _hy(key: str, dialect: str) -> str:
    return key.replace("_", "-") if dialect == "v0.3" else key


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _version(v: Any, dialect: str) -> Any:
    if v is None:
        return 0.3 if dialect == "v0.3" else 0.4
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


# ------------------------------------------------------------------------------------ problem
def problem_to_dict(problem: Any, dialect: str) -> dict[str, Any]:
    shape = problem.shape
    spaces = []
    for ds in shape.data_spaces:
        proj = [
            [[t.dim] if t.coefficient is None else [t.dim, t.coefficient] for t in coord]
            for coord in ds.projection
        ]
        item: dict[str, Any] = {"name": ds.name, "projection": proj}
        if ds.read_write:
            item[_hy("read_write", dialect)] = True
        spaces.append(item)
    shape_d = {
        "name": shape.name,
        "dimensions": Flow(shape.dimensions),
        "coefficients": [{"name": c.name, "default": c.default} for c in shape.coefficients],
        _hy("data_spaces", dialect): spaces,
    }
    instance: dict[str, Any] = dict(problem.instance)
    dens: dict[str, Any] = {}
    for name, d in problem.densities.items():
        if d.distribution == "fixed_structured" and not d.params:
            dens[name] = d.density
        else:
            dist = d.distribution.replace("_", "-") if dialect == "v0.3" else d.distribution
            dens[name] = _drop_none(
                {"distribution": dist, "density": d.density, "data_file_path": d.data_file_path, **d.params}
            )
    if dens:
        instance["densities"] = dens
    out: dict[str, Any] = {}
    if dialect == "v0.4":
        out["version"] = 0.4
    out["shape"] = _drop_none(shape_d)
    out["instance"] = instance
    return out


# ------------------------------------------------------------------------------------ directives
def _directive_common(d: Any, dialect: str) -> dict[str, Any]:
    out: dict[str, Any] = {"target": d.target}
    kind = d.type
    if kind == "bypass" and dialect == "v0.4":
        kind = "dataspace"
    out["type"] = kind
    if d.factors:
        if dialect == "v0.4":
            out["factors"] = Flow(format_factors(d.factors, d.residuals).split())
        else:
            out["factors"] = format_factors(d.factors, d.residuals)
    if d.permutation is not None:
        out["permutation"] = Flow(d.permutation) if dialect == "v0.4" else "".join(d.permutation)
    for key in (
        "split",
        "keep",
        "bypass",
        "no_link_transfer",
        "no_multicast_no_reduction",
        "no_temporal_reuse",
    ):
        value = getattr(d, key, None)
        if value is not None:
            out[key] = Flow(value) if isinstance(value, list) else value
    return out


def mapping_directive_to_dict(d: MappingDirective, dialect: str) -> dict[str, Any]:
    return _directive_common(d, dialect)


def constraint_to_dict(d: ConstraintDirective, dialect: str, *, with_target: bool = True) -> dict[str, Any]:
    out = _directive_common(d, dialect)
    if d.type == "utilization" and d.min_utilization is not None:
        out["min"] = d.min_utilization
    if d.type == "max_overbooked_proportion" and d.max_overbooked_proportion is not None:
        out["proportion"] = d.max_overbooked_proportion
    if d.remainders is not None:
        out["remainders"] = d.remainders
    for key in ("no_reuse", "rmw_first_update", "no_coalesce", "keep_only", "bypass_only"):
        value = getattr(d, key)
        if value is not None:
            out[key] = Flow(value)
    for key in ("default_max_factor", "default_min_factor", "maximize_dims_capacity"):
        if getattr(d, key) is not None:
            out[key] = getattr(d, key)
    if d.maximize_dims is not None:  # only before expansion (no problem given yet)
        out["maximize_dims"] = [Flow(group) for group in d.maximize_dims]
    if d.factors_only is not None:
        text = format_factors(d.factors_only)
        out["factors_only"] = Flow(text.split()) if dialect == "v0.4" else text
    if not with_target:
        out.pop("target")
        out.pop("type")
    return out


# ------------------------------------------------------------------------------------ sparse
def sparse_target_to_dict(t: Any, dialect: str, *, with_name: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name} if with_name else {}
    if t.representation_format:
        spaces = []
        for fmt in t.representation_format:
            ranks = []
            for r in fmt.ranks:
                rank: dict[str, Any] = {"format": r.format}
                if r.flattened_rank_ids is not None:
                    rank["flattened-rankIDs" if dialect == "v0.3" else "flattened_rankIDs"] = [
                        Flow(g) for g in r.flattened_rank_ids
                    ]
                if r.payload_word_bits is not None:
                    rank[_hy("payload_word_bits", dialect)] = r.payload_word_bits
                if r.metadata_word_bits is not None:
                    rank[_hy("metadata_word_bits", dialect)] = r.metadata_word_bits
                ranks.append(rank)
            item: dict[str, Any] = {"name": fmt.name, "ranks": ranks}
            if fmt.rank_application_order is not None:
                item[_hy("rank_application_order", dialect)] = fmt.rank_application_order
            if fmt.compression_rate is not None:
                item[_hy("compression_rate", dialect)] = fmt.compression_rate
            spaces.append(item)
        out[_hy("representation_format", dialect)] = {_hy("data_spaces", dialect): spaces}
    if t.action_optimization:
        out[_hy("action_optimization", dialect)] = [
            {
                "type": o.type.replace("_", "-") if dialect == "v0.3" else o.type,
                "options": [
                    {"target": x.target, _hy("condition_on", dialect): Flow(x.condition_on)}
                    for x in o.options
                ],
            }
            for o in t.action_optimization
        ]
    if t.compute_optimization:
        out[_hy("compute_optimization", dialect)] = [{"type": c.type} for c in t.compute_optimization]
    return out


# ------------------------------------------------------------------------------------ mapper
def mapper_to_dict(m: Any, dialect: str) -> dict[str, Any]:
    data = m.model_dump(exclude_none=True)
    data.pop("version", None)
    out: dict[str, Any] = {"version": 0.4} if dialect == "v0.4" else {}
    for k, v in data.items():
        if k == "algorithm" and dialect == "v0.3":
            v = v.replace("_", "-")
        if k == "out_prefix":
            out[k] = v  # Timeloop reads `out_prefix` with an underscore (mapper.cpp)
            continue
        out[_hy(k, dialect)] = Flow(v) if isinstance(v, list) else v
    return out


# ------------------------------------------------------------------------------------ architecture
def _level_local(level: Any, top: dict[str, Any], dialect: str) -> dict[str, Any]:
    attrs = {k: v for k, v in level.attributes.items() if not (k in top and top[k] == v)}
    out: dict[str, Any] = {"name": f"{level.name}[1..{level.instances}]", "class": level.class_name}
    if level.subclass is not None:
        out["subclass"] = level.subclass
    out["attributes"] = {**attrs, "meshX": level.mesh_x, "meshY": level.mesh_y}
    return out


def _tree_node_dict(node: TreeNode) -> dict[str, Any]:
    out: dict[str, Any] = {"name": node.name}
    if node.attributes:
        out["attributes"] = dict(node.attributes)
    if node.local:
        out["local"] = [
            _drop_none(
                {
                    "name": c.name,
                    "class": c.class_name,
                    "subclass": c.subclass,
                    "attributes": dict(c.attributes) or None,
                    "required_actions": c.required_actions,
                    "enabled": c.enabled,
                    "area_share": c.area_share,
                }
            )
            for c in node.local
        ]
    if node.subtree:
        out["subtree"] = [_tree_node_dict(s) for s in node.subtree]
    return out


def arch_to_tree_dict(spec: Spec, dialect: str) -> dict[str, Any]:
    arch = spec.architecture
    assert arch is not None
    if isinstance(arch.tree, TreeArch):
        tree = arch.tree
        out: dict[str, Any] = {"version": _version(tree.version, dialect)}
        out["subtree"] = [_tree_node_dict(s) for s in tree.subtree]
        return out
    result = arch.flat_result(spec.problem)
    flat = result.arch
    top = {k: v for k, v in result.top_attributes.items()}
    outer_first = list(reversed(flat.storage)) + [flat.compute] + list(flat.others)
    local = [_level_local(lv, top, dialect) for lv in outer_first]
    return {
        "version": 0.3 if dialect == "v0.3" else 0.4,
        "subtree": [{"name": result.top_name, "attributes": top, "local": local}],
    }


def _node_dict(node: Any) -> Any:
    if isinstance(node, BranchNode):
        return Tagged(node.kind, {"nodes": [_node_dict(n) for n in node.nodes]})
    if isinstance(node, NothingNode):
        nothing: dict[str, Any] = {"name": node.name}
        cons = {k: constraint_to_dict(c, "v0.4", with_target=False) for k, c in node.constraints.items()}
        if cons:  # a !Parallel's empty branch says which data spaces it takes
            nothing["constraints"] = cons
        return Tagged("!Nothing", nothing)
    out: dict[str, Any] = {"name": node.name}
    if isinstance(node, ComponentNode):
        out["class"] = node.class_name
        if node.subclass is not None:
            out["subclass"] = node.subclass
    if node.attributes:
        out["attributes"] = dict(node.attributes)
    if node.spatial.meshX != 1 or node.spatial.meshY != 1:
        sp = {}
        if node.spatial.meshX != 1:
            sp["meshX"] = node.spatial.meshX
        if node.spatial.meshY != 1:
            sp["meshY"] = node.spatial.meshY
        out["spatial"] = sp
    cons = {k: constraint_to_dict(c, "v0.4", with_target=False) for k, c in node.constraints.items()}
    if cons:
        out["constraints"] = cons
    if node.sparse_optimizations is not None:
        sd = sparse_target_to_dict(node.sparse_optimizations, "v0.4", with_name=False)
        if sd:
            out["sparse_optimizations"] = sd
    if isinstance(node, ComponentNode):
        if node.required_actions:
            out["required_actions"] = list(node.required_actions)
        if node.area_share is not None:
            out["area_share"] = node.area_share
    if not node.enabled:
        out["enabled"] = False
    return Tagged(node.kind, out)


def arch_to_nodes_dict(spec: Spec) -> dict[str, Any]:
    arch = spec.architecture
    assert arch is not None
    if isinstance(arch.tree, NodesArch):
        return {"version": 0.4, "nodes": [_node_dict(n) for n in arch.tree.nodes]}
    flat = arch.flatten()
    outer_first: list[Any] = list(reversed(flat.storage)) + [flat.compute]
    top_attrs = dict(arch.tree.subtree[0].attributes) if arch.tree.subtree else {}
    top_name = arch.name
    nodes: list[Any] = [Tagged("!Container", _drop_none({"name": top_name, "attributes": top_attrs or None}))]
    px, py = 1, 1
    for lv in outer_first:
        attrs = {
            k: v
            for k, v in lv.attributes.items()
            if k not in ("meshX", "meshY") and not (k in top_attrs and top_attrs[k] == v)
        }
        item: dict[str, Any] = {"name": lv.name, "class": lv.class_name}
        if lv.subclass is not None:
            item["subclass"] = lv.subclass
        if attrs:
            item["attributes"] = attrs
        fx, fy = lv.mesh_x // max(1, px), lv.mesh_y // max(1, py)
        if lv.mesh_x % max(1, px) or lv.mesh_y % max(1, py):
            fx, fy = lv.instances // max(1, px * py), 1
        if fx * fy != 1:
            item["spatial"] = _drop_none({"meshX": fx if fx != 1 else None, "meshY": fy if fy != 1 else None})
        px, py = lv.mesh_x, lv.mesh_y
        nodes.append(Tagged("!Component", item))
    return {"version": 0.4, "nodes": nodes}


# ------------------------------------------------------------------------------------ spec
def _constraints_block(items: list[ConstraintDirective], dialect: str) -> dict[str, Any]:
    out: dict[str, Any] = {"version": 0.4} if dialect == "v0.4" else {}
    out["targets"] = [constraint_to_dict(d, dialect) for d in items]
    return out


def spec_to_dict(spec: Spec, dialect: str = "v0.3") -> dict[str, Any]:
    """The spec as plain data in the given dialect (see the module docstring)."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {DIALECTS}, not {dialect!r}")
    out: dict[str, Any] = {}
    arch = spec.architecture
    nodes_arch = arch is not None and arch.dialect == "nodes"
    if arch is not None:
        out["architecture"] = (
            arch_to_nodes_dict(spec) if dialect == "v0.4" else arch_to_tree_dict(spec, dialect)
        )
    if spec.problem is not None:
        out["problem"] = problem_to_dict(spec.problem, dialect)
    if spec.mapping is not None:
        out["mapping"] = [mapping_directive_to_dict(d, dialect) for d in spec.mapping.directives]
    # sparse optimizations: in-node ones stay in the nodes for a v0.4 node architecture
    sparse = spec.sparse_optimizations
    if sparse is not None:
        targets = sparse.targets
        if dialect == "v0.4" and nodes_arch:
            written = spec.written.get("sparse_optimizations")
            targets = written.targets if written is not None else []
        if targets:
            block: dict[str, Any] = {"version": 0.4} if dialect == "v0.4" else {}
            block["targets"] = [sparse_target_to_dict(t, dialect) for t in targets]
            out["sparse_optimizations"] = block
    # constraints
    if dialect == "v0.3" or not nodes_arch:
        if spec.arch_constraints:
            out["architecture_constraints"] = _constraints_block(spec.arch_constraints, dialect)
    else:
        for key in ("architecture_constraints", "constraints", "extra_mapping_constraints"):
            items = spec.written.get(key)
            if items:
                out[key] = _constraints_block(items, dialect)
    if spec.mapspace_constraints:
        block = _constraints_block(spec.mapspace_constraints, dialect)
        if spec.mapspace_template is not None:
            block["template"] = spec.mapspace_template
        out["mapspace_constraints"] = block
    elif spec.mapspace_template is not None:
        out["mapspace"] = (
            {"version": 0.4, "template": spec.mapspace_template}
            if dialect == "v0.4"
            else {"template": spec.mapspace_template}
        )
    if spec.mapper is not None:
        out["mapper"] = mapper_to_dict(spec.mapper, dialect)
    if spec.model is not None:
        out["model"] = _drop_none(vars(spec.model))
    if spec.components:
        key = "components" if dialect == "v0.4" else "compound_components"
        out[key] = {
            "version": 0.4 if dialect == "v0.4" else 0.3,
            "classes": [_component_dict(c) for c in spec.components.values()],
        }
    if spec.ert is not None:
        out["ERT"] = {
            "version": spec.ert.version or "0.4",
            "tables": [
                {
                    "name": e.name,
                    "actions": [
                        {"name": a.name, "arguments": a.arguments, "energy": a.energy} for a in e.actions
                    ],
                }
                for e in spec.ert.tables
            ],
        }
    if spec.art is not None:
        out["ART"] = {
            "version": spec.art.version or "0.4",
            "tables": [{"name": e.name, "area": e.area} for e in spec.art.tables],
        }
    if spec.variables and (dialect == "v0.4" or not nodes_arch):
        out["variables"] = dict(spec.variables)
    if spec.globals is not None and dialect == "v0.4":
        out["globals"] = dict(spec.globals)
    return out


def _component_dict(c: Any) -> dict[str, Any]:
    def sub(s: Any) -> dict[str, Any]:
        return _drop_none(
            {
                "name": s.name,
                "class": s.class_name,
                "attributes": dict(s.attributes) or None,
                "area_share": s.area_share,
                "area_scale": s.area_scale,
            }
        )

    def action(a: Any) -> dict[str, Any]:
        return _drop_none(
            {
                "name": a.name,
                "arguments": a.arguments,
                "subcomponents": [
                    {
                        "name": s.name,
                        "actions": [
                            _drop_none(
                                {
                                    "name": x.name,
                                    "arguments": x.arguments,
                                    "action_share": x.action_share,
                                    "repeat": x.repeat,
                                    "energy_scale": x.energy_scale,
                                }
                            )
                            for x in s.actions
                        ],
                    }
                    for s in a.subcomponents
                ],
            }
        )

    return _drop_none(
        {
            "name": c.name,
            "attributes": dict(c.attributes) or None,
            "subcomponents": [sub(s) for s in c.subcomponents],
            "actions": [action(a) for a in c.actions],
        }
    )


#: file name per part, in the order the files are given back to `load_spec`
FILE_PARTS = (
    ("arch.yaml", ("architecture", "variables", "globals")),
    ("components.yaml", ("compound_components", "components")),
    ("sparse_opt.yaml", ("sparse_optimizations",)),
    ("ERT.yaml", ("ERT",)),
    ("ART.yaml", ("ART",)),
    ("problem.yaml", ("problem",)),
    (
        "constraints.yaml",
        (
            "architecture_constraints",
            "constraints",
            "extra_mapping_constraints",
            "mapspace_constraints",
            "mapspace",
        ),
    ),
    ("mapper.yaml", ("mapper", "model")),
    ("mapping.yaml", ("mapping",)),
)


def dump_spec(spec: Spec, folder: Path, dialect: str = "v0.3") -> list[Path]:
    """Write the spec as one YAML file per part (arch, components, sparse_opt, ERT, ART, problem, ...)."""
    data = spec_to_dict(spec, dialect)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, keys in FILE_PARTS:
        part = {k: data[k] for k in keys if k in data}
        if not part:
            continue
        written.append(atomic_write(folder / name, to_yaml(part)))
    return written


# ------------------------------------------------------------------------------------ equality
def _level_view(lv: StorageLevel | ComputeLevel) -> tuple[Any, ...]:
    attrs = {k: (str(v) if k == "version" else v) for k, v in lv.attributes.items()}
    return (
        lv.name,
        lv.path,
        lv.class_name,
        lv.subclass,
        lv.instances,
        lv.mesh_x,
        lv.mesh_y,
        tuple(sorted((k, repr(v)) for k, v in attrs.items())),
    )


def _constraint_key(d: ConstraintDirective) -> str:
    return repr(sorted(d.model_dump(exclude={"source"}).items()))


def semantic_view(spec: Spec) -> dict[str, Any]:
    """A canonical view of what the spec means, used by `Spec.__eq__` (round-trip checks)."""
    flat = spec.architecture.flatten() if spec.architecture is not None else None
    return {
        "architecture": None
        if flat is None
        else [_level_view(lv) for lv in flat.storage] + [_level_view(flat.compute)],
        "problem": None if spec.problem is None else spec.problem.model_dump(exclude={"version"}),
        "mapping": None if spec.mapping is None else spec.mapping.model_dump(),
        "sparse_optimizations": None
        if spec.sparse_optimizations is None
        else sorted((t.name, repr(t.model_dump())) for t in spec.sparse_optimizations.targets),
        "arch_constraints": sorted(_constraint_key(d) for d in spec.arch_constraints),
        "mapspace_constraints": sorted(_constraint_key(d) for d in spec.mapspace_constraints),
        "mapper": None if spec.mapper is None else spec.mapper.model_dump(exclude={"version"}),
        "components": {k: v.model_dump() for k, v in spec.components.items()},
        "ert": None if spec.ert is None else spec.ert.model_dump(exclude={"version"}),
        "art": None if spec.art is None else spec.art.model_dump(exclude={"version"}),
    }
