"""``sparse-hw extract CKPT --out DIR``: measured per-layer shapes and densities as Timeloop problems."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ._common import console, err_console, handle_errors


def _kwargs(text: str | None) -> dict | None:
    if not text:
        return None
    from ..errors import ConfigError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--model-kwargs is not JSON: {exc}",
            key_path="model_kwargs",
            fix='write a JSON object, e.g. \'{"stem": "small", "width": 0.5}\'',
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(
            "--model-kwargs must be a JSON object",
            key_path="model_kwargs",
            fix="write e.g. '{\"num_classes\": 10}'",
        )
    return value


def _factory_extract(factory: str, ckpt: Path, *, model: str | None, trust: bool, data: str | None,
                     model_kwargs: dict | None, **options):
    """``--model-factory``: the user's module with the checkpoint's state dict, extracted like a model in memory."""
    from ..errors import ConfigError
    from ..extract.inmemory import extract_model, model_from_factory
    from ..io import check_out_dir
    from ..train.api import torch_threads

    if model is not None or trust:
        raise ConfigError("--model-factory builds the model itself", key_path="model_factory",
                          fix="drop --model / --trust-checkpoint")
    if data is None:
        raise ConfigError("--model-factory needs --data (a state dict does not record its dataset)", key_path="data",
                          fix="pass e.g. --data digits")
    check_out_dir(options["out"], inputs=[ckpt], force=options["force"])
    module, raw = model_from_factory(factory, ckpt, kwargs=model_kwargs)
    with torch_threads(1):
        return extract_model(module, data, raw=raw, **options).result


def register(app: typer.Typer) -> None:
    @app.command("extract")
    @handle_errors
    def extract_command(
        ckpt: Path = typer.Argument(
            ..., help="Checkpoint: ours, a plain or torch.nn.utils.prune state_dict."
        ),
        out: Path = typer.Option(
            ..., "--out", help="Output folder (an earlier sparse-hw output there is replaced atomically)."
        ),
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when sparse-hw did not write it (never an input or a file)."
        ),
        data: str | None = typer.Option(
            None,
            "--data",
            help="Calibration dataset (default: the one the checkpoint was trained on): "
            "synthetic-shapes, digits, modelnet:PATH, cifar10:PATH, imagefolder:PATH.",
        ),
        calib_samples: int = typer.Option(256, "--calib-samples", help="Calibration samples to measure on."),
        seed: int = typer.Option(0, "--seed", help="Seed of the calibration subset."),
        model: str | None = typer.Option(
            None, "--model", help="Architecture of a plain state_dict (registry name)."
        ),
        model_kwargs: str | None = typer.Option(
            None, "--model-kwargs", help='JSON constructor arguments of --model, e.g. \'{"stem": "small"}\'.'
        ),
        model_factory: str | None = typer.Option(
            None, "--model-factory", help="pkg.module:fn returning your nn.Module (imported only when given); the "
            "checkpoint is its state_dict, loaded weights_only.",
        ),
        dialect: str = typer.Option(
            "v0.4", "--dialect", help="Problem YAML dialect: v0.4 (timeloopfe) or v0.3."
        ),
        pad: bool = typer.Option(
            False, "--pad", help="Pad dimensions with a prime factor > 7 to factorizable sizes."
        ),
        trust: bool = typer.Option(
            False,
            "--trust-checkpoint",
            help="Allow arbitrary pickles (unpickling can run code; trusted files only).",
        ),
        batch_size: int = typer.Option(64, "--batch-size", help="Calibration batch size."),
        masks: bool = typer.Option(
            False, "--masks", help="Also store the first calibration sample's nonzero masks (DIR/masks/, "
            "bit-packed .npz, and real-data problems) for `simulate --density actual`.",
        ),
    ) -> None:
        """Measure every conv/linear layer's shape and weight, input and output densities on calibration data.

        Writes DIR/layers.csv (per-layer sparsity report), DIR/layers.json (full precision), one Timeloop
        problem per layer (DIR/problems/NNN_<layer>.yaml), DIR/weight_hist.csv and DIR/manifest.json.
        """
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from ..pipeline import extract

        with Progress(
            TextColumn("calibrating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        ) as bar:
            task = bar.add_task("calibrating", total=calib_samples)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if model_factory is not None:
                if masks:
                    from ..errors import ConfigError

                    raise ConfigError("--masks is not available with --model-factory", key_path="masks",
                                      fix="extract a registry model, or drop --masks")
                result = _factory_extract(
                    model_factory, ckpt, model=model, trust=trust, data=data, calib_samples=calib_samples, seed=seed,
                    model_kwargs=_kwargs(model_kwargs), dialect=dialect, pad=pad, batch_size=batch_size, out=out,
                    progress=progress, force=force,
                )  # fmt: skip
            else:
                result = extract(
                    ckpt, data=data, calib_samples=calib_samples, seed=seed, model=model,
                    model_kwargs=_kwargs(model_kwargs), dialect=dialect, pad=pad, trust=trust,
                    batch_size=batch_size, out=out, progress=progress, force=force,
                    **({"masks": True} if masks else {}),
                )  # fmt: skip
        table = Table(title=f"{result.model} {result.checkpoint_id}: {len(result.records)} layers")
        for name in ("#", "layer", "op", "C M  RxS  PxQ", "w", "in", "out", "pattern", "MACs"):
            table.add_column(name, justify="right" if name in ("#", "w", "in", "out", "MACs") else "left")
        for r in result.records:
            shape = (
                f"{r.C} {r.M}  {r.R}x{r.S}  {r.P}x{r.Q}"
                + (f" G{r.G}" if r.G > 1 else "")
                + (f" N{r.N}" if r.N > 1 else "")
                + (" *" if r.prime_dims else "")
            )
            table.add_row(
                str(r.order), r.layer, r.op, shape, f"{r.weight_density:.3f}", f"{r.input_density:.3f}",
                f"{r.output_density:.3f}", r.pattern, f"{r.macs:,}",
            )  # fmt: skip
        console.print(table)
        for note in result.notes:
            err_console.print(f"note: {note}", markup=False, highlight=False, soft_wrap=True)
        console.print(
            f"wrote {len(result.problems)} problems, layers.csv, layers.json, weight_hist.csv and manifest.json "
            f"to {result.out}"
            + (
                "  (* = dimension with a prime factor > 7)"
                if any(r.prime_dims for r in result.records)
                else ""
            ),
            markup=False,
            highlight=False,
        )
