"""Fit a CNN problem file to the dimension names an architecture's constraints use.

Timeloop names the output rows/columns of a convolution ``P``/``Q`` in its ``CNN-Layer`` shape and
``E``/``F`` in the Sparseloop artifact's ``grouped-CONV`` shape (``problem-shapes/cnn-layer.yaml``
vs. micro22-sparseloop-artifact ``workloads/*``); the Eyeriss v2 designs' constraints and formats use
the latter (``E`` pairs with ``R``, ``F`` with ``S``, plus a group dimension ``G``). The extractor
writes ``CNN-Layer`` problems, so before a layer is mapped on such an architecture its problem is
rewritten to the names the architecture uses. Nothing else changes: same sizes, strides, densities
and data-space coordinates (``G`` is added with size 1 where the problem has no groups).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..io import atomic_write, dump_yaml

#: CNN-Layer name -> grouped-CONV name.
RENAME_TO_GROUPED = {"P": "E", "Q": "F"}

#: Where grouped-CONV puts the G coordinate: after this coordinate's dimension.
_G_AFTER = {"Weights": "M", "Inputs": "C", "Outputs": "N"}


def dimensions_named(spec) -> set[str]:
    """Problem dimensions an architecture spec names: constraint factors and permutations, format ranks."""
    names: set[str] = set()
    for d in list(getattr(spec, "arch_constraints", None) or []) + list(getattr(spec, "mapspace_constraints", None) or []):
        names.update((getattr(d, "factors", None) or {}).keys())
        names.update(getattr(d, "permutation", None) or [])
    sparse = getattr(spec, "sparse_optimizations", None)
    for target in getattr(sparse, "targets", None) or []:
        for ds in getattr(target, "representation_format", None) or []:
            for rank in ds.ranks:
                for group in rank.flattened_rank_ids or []:
                    names.update(group)
    return names


def _problem_section(doc: Any) -> dict[str, Any] | None:
    if isinstance(doc, dict) and isinstance(doc.get("problem"), dict):
        return doc["problem"]
    return None


def plan(problem_dims: Iterable[str], wanted: set[str]) -> tuple[dict[str, str], bool]:
    """(renames, add_g) that make a problem with ``problem_dims`` name every dimension in ``wanted``."""
    dims = set(problem_dims)
    missing = wanted - dims
    if not missing:
        return {}, False
    renames = {}
    if missing & {"E", "F"} and {"P", "Q"} <= dims and not dims & {"E", "F"}:
        renames = dict(RENAME_TO_GROUPED)
    add_g = "G" in missing and "G" not in dims
    return renames, add_g


def adapt_problem(doc: dict[str, Any], renames: dict[str, str], add_g: bool) -> dict[str, Any]:
    """A copy of a problem document (either dialect) with dimensions renamed and G added."""
    import copy

    doc = copy.deepcopy(doc)
    prob = _problem_section(doc)
    if prob is None:
        return doc
    shape = prob.get("shape") or {}
    instance = prob.get("instance") or {}
    dims = [renames.get(d, d) for d in shape.get("dimensions", [])]
    spaces_key = "data_spaces" if "data_spaces" in shape else "data-spaces"
    for ds in shape.get(spaces_key, []) or []:
        proj = ds.get("projection", [])
        for coord in proj:
            for term in coord:
                if term and term[0] in renames:
                    term[0] = renames[term[0]]
        if add_g and ds.get("name") in _G_AFTER:
            after = _G_AFTER[ds["name"]]
            at = next((i + 1 for i, c in enumerate(proj) if len(c) == 1 and c[0][0] == after), len(proj))
            proj.insert(at, [["G"]])
    if add_g:
        dims.append("G")
        instance["G"] = 1
    shape["dimensions"] = dims
    new_instance = {}
    for k, v in instance.items():
        new_instance[renames.get(k, k)] = v
    prob["instance"] = new_instance
    if renames or add_g:
        underscore = "data_spaces" in shape
        shape["name"] = "grouped_CONV" if underscore else "grouped-CONV"
    return doc


def fits_as_is(files: Sequence[Path], spec: Any, jinja_data: dict[str, Any] | None = None) -> bool:
    """True when ``spec`` -- ``load_spec(files)``, loaded without error -- is what loading the files that
    `fit_problem_files` returns would give: no problem file needs a rename or G by the names ``spec``'s
    constraints and formats use. Lets a caller validate the files once instead of twice.

    Sound because ``spec`` names a superset of what `fit_problem_files` looks at (the other files alone):
    with the problem loaded, validation only adds names (``factors_only``, ``maximize_dims`` and v0.4 dummy
    constraints put problem dimensions into the factors and permutations; nothing is removed), and a larger
    set of missing names can only turn `plan`'s answer from "nothing" into a change, never back. So when
    no problem needs a change by ``spec``'s names, `fit_problem_files` changes nothing either. False means
    "not known": fit the files and load them again."""
    from ..errors import SparseHwError
    from .loader import read_document

    wanted = dimensions_named(spec)
    for f in files:
        try:
            prob = _problem_section(read_document(Path(f), jinja_data))  # cached by the load of ``spec``
        except SparseHwError:
            return False
        if prob is not None and plan((prob.get("shape") or {}).get("dimensions", []), wanted) != ({}, False):
            return False
    return True


def fit_problem_files(
    files: Sequence[Path], workdir: Path, jinja_data: dict[str, Any] | None = None
) -> list[Path]:
    """``files`` with every problem file rewritten (into ``workdir``) to the dimension names the other
    files' constraints and formats use; files that need nothing are returned unchanged. ``jinja_data``
    renders templates as `load_spec` will (a rewritten template is written out rendered)."""
    from ..errors import SparseHwError
    from . import load_spec
    from .loader import read_document

    problems = []
    others = []
    for f in files:
        try:
            doc = read_document(Path(f), jinja_data)  # load_spec's cached parse: no second YAML parse
        except SparseHwError:
            return list(files)
        (problems if _problem_section(doc) is not None else others).append((f, doc))
    if not problems or not others:
        return list(files)
    try:
        wanted = dimensions_named(load_spec([f for f, _ in others], jinja_data=jinja_data))
    except SparseHwError:
        return list(files)  # loading everything together reports the problem properly
    out = []
    for f in files:
        hit = next((doc for p, doc in problems if p == f), None)
        if hit is None:
            out.append(f)
            continue
        renames, add_g = plan(_problem_section(hit).get("shape", {}).get("dimensions", []), wanted)
        if not renames and not add_g:
            out.append(f)
            continue
        adapted = adapt_problem(hit, renames, add_g)
        from ..model.masks import absolutize_mask_paths  # real-data masks stay beside the original

        absolutize_mask_paths(_problem_section(adapted), Path(f).parent)
        note = ", ".join([f"{a}->{b}" for a, b in renames.items()] + (["added G=1"] if add_g else []))
        target = Path(workdir) / f"{Path(f).stem}.fitted.yaml"
        atomic_write(target, f"# {Path(f).name} with the architecture's dimension names ({note})\n" + dump_yaml(adapted))
        out.append(target)
    return out
