"""The `sparse-hw estimate` stage: load the files, estimate (or run Accelergy), write the tables atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import RunManifest, atomic_dir, atomic_write, dump_yaml

#: the Accelergy versions whose arithmetic ``--accelergy`` reproduces (`sparse_hw.estimate.Emulation`)
ACCELERGY_VERSIONS = ("0.3", "0.4")


def emulation(accelergy: str | None, precision: int | None):
    """The `Emulation` that ``--accelergy VERSION [--precision N]`` name, refusing what no Accelergy did
    (a version other than 0.3/0.4, a negative number of decimals) with a `ConfigError` (exit 2)."""
    from ..errors import ConfigError
    from .compound import CURRENT, Emulation

    version = CURRENT.version if accelergy is None else str(accelergy).strip()
    if version not in ACCELERGY_VERSIONS:
        raise ConfigError(f"--accelergy {accelergy!r} is not an Accelergy whose arithmetic sparse-hw reproduces",
                          key_path="--accelergy",
                          fix=f"use one of {', '.join(ACCELERGY_VERSIONS)} (0.3: the 2020-2022 exercises' outputs; "
                              "0.4: today's Accelergy, the default)")
    if precision is not None and precision < 0:
        raise ConfigError(f"--precision {precision} is negative", key_path="--precision",
                          fix="give the number of decimals Accelergy rounded to, an integer >= 0 (its --precision: "
                              "3 before May 2021, then 5), or leave it out for no rounding")
    return Emulation(version, precision)


def write_estimate(
    files: Sequence[Path],
    out: Path,
    *,
    estimator: str = "builtin",
    force: bool = False,
    jinja: dict[str, Any] | None = None,
    emulate=None,
) -> list[Path]:
    """Write ERT.yaml, ART.yaml and the summary for ``files`` into ``out``; returns the paths written.
    ``emulate``: whose Accelergy arithmetic the builtin estimator reproduces (`emulation`; today's by default)."""
    from ..spec import load_spec
    from .api import estimate
    from .compound import CURRENT

    emulate = emulate or CURRENT

    paths = [Path(f) for f in files]
    spec = load_spec(paths, jinja_data=jinja)
    started = time.perf_counter()
    if estimator == "accelergy":
        from .accelergy import run_accelergy

        ert, art, summaries = run_accelergy(paths)
        texts = {"ERT.yaml": dump_yaml({"ERT": ert.model_dump(exclude_none=True)}),
                 "ART.yaml": dump_yaml({"ART": art.model_dump(exclude_none=True)}), **summaries}
    else:
        est = estimate(spec, emulate=emulate)
        for caveat in est.caveats:  # a figure known to be too low is never silent
            logging.getLogger("sparse_hw.estimate").warning(caveat)
        texts = {"ERT.yaml": dump_yaml(est.ert_dict()), "ART.yaml": dump_yaml(est.art_dict()),
                 "estimate_summary.yaml": dump_yaml(est.summary_dict())}
    seconds = time.perf_counter() - started
    with atomic_dir(out, force=force, inputs=paths) as tmp:
        for name, text in texts.items():
            atomic_write(tmp / name, text)
        settings = {"estimator": estimator, "seconds": round(seconds, 4)}
        if estimator != "accelergy":
            settings.update(accelergy=emulate.version, precision=emulate.precision)
        manifest = RunManifest(stage="estimate", settings=settings)
        for p in paths:
            manifest.add_input(p)
        manifest.outputs = list(texts)
        manifest.finish().write(tmp)
    return [out / n for n in texts]
