"""The `sparse-hw estimate` stage: load the files, estimate (or run Accelergy), write the tables atomically."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import RunManifest, atomic_dir, atomic_write, dump_yaml


def write_estimate(
    files: Sequence[Path],
    out: Path,
    *,
    estimator: str = "builtin",
    force: bool = False,
    jinja: dict[str, Any] | None = None,
) -> list[Path]:
    """Write ERT.yaml, ART.yaml and the summary for ``files`` into ``out``; returns the paths written."""
    from ..spec import load_spec
    from .api import estimate

    paths = [Path(f) for f in files]
    spec = load_spec(paths, jinja_data=jinja)
    started = time.perf_counter()
    if estimator == "accelergy":
        from .accelergy import run_accelergy

        ert, art, summaries = run_accelergy(paths)
        texts = {"ERT.yaml": dump_yaml({"ERT": ert.model_dump(exclude_none=True)}),
                 "ART.yaml": dump_yaml({"ART": art.model_dump(exclude_none=True)}), **summaries}
    else:
        est = estimate(spec)
        texts = {"ERT.yaml": dump_yaml(est.ert_dict()), "ART.yaml": dump_yaml(est.art_dict()),
                 "estimate_summary.yaml": dump_yaml(est.summary_dict())}
    seconds = time.perf_counter() - started
    with atomic_dir(out, force=force, inputs=paths) as tmp:
        for name, text in texts.items():
            atomic_write(tmp / name, text)
        manifest = RunManifest(stage="estimate", settings={"estimator": estimator, "seconds": round(seconds, 4)})
        for p in paths:
            manifest.add_input(p)
        manifest.outputs = list(texts)
        manifest.finish().write(tmp)
    return [out / n for n in texts]
