"""``sparse-hw train``: train and prune one model, write a checkpoint, print the sparsity report."""

from __future__ import annotations

from pathlib import Path

import typer

from ._common import console, err_console, handle_errors

# Kept literal so that `--help` does not import torch; tests/train/test_cli.py checks them against the registries.
MODEL_NAMES = ("lenet5", "mobilenetv2", "pointnet2", "resnet18", "vit")
METHOD_NAMES = ("none", "gmp", "l1", "global", "structured", "admm", "nm")
DATA_SPECS = ("synthetic-shapes", "digits", "modelnet:PATH", "cifar10:PATH", "imagefolder:PATH")


def _key_values(items: list[str] | None, option: str) -> dict:
    """``key=value`` items -> dict; values are parsed as YAML scalars/lists (``0.5``, ``[64, 16]``, ``true``)."""
    from ..errors import ConfigError
    from ..io import load_yaml_text

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} expects KEY=VALUE, got {item!r}", key_path=option,
                              fix=f"write e.g. {option} width=0.5")
        out[key.strip()] = load_yaml_text(value, source=option) if value.strip() else None
    return out


def register(app: typer.Typer) -> None:
    @app.command("train")
    @handle_errors
    def train_cmd(
        model: str = typer.Option(..., "--model", help=f"Model: {', '.join(MODEL_NAMES)}."),
        data: str = typer.Option("synthetic-shapes", "--data", help=f"Dataset: {', '.join(DATA_SPECS)}."),
        method: list[str] = typer.Option(["none"], "--method",
                                         help=f"Pruning method(s), applied in order (repeat or comma-separate): "
                                              f"{', '.join(METHOD_NAMES)}."),
        sparsity: list[float] = typer.Option(None, "--sparsity",
                                             help="Target sparsity (fraction of prunable weights zeroed or removed); "
                                                  "repeat for a cumulative target per method."),
        nm: str = typer.Option("2:4", "--nm", help="N:M pattern of --method nm (2:4, 4:8, 1:4...): N of every M "
                               "weights along the input channels kept; implies the sparsity 1 - N/M."),
        epochs: int = typer.Option(10, "--epochs", help="Dense training epochs."),
        seed: int = typer.Option(0, "--seed", help="Seed of data, initialization and shuffling."),
        out: str = typer.Option(..., "--out", help="Checkpoint file to write."),  # str: `m/` keeps its slash
        force: bool = typer.Option(
            False, "--force", help="Replace --out even when it is not a sparse-hw checkpoint (never an input)."
        ),
        prune_epochs: int = typer.Option(5, "--prune-epochs", help="Epochs of gmp/admm training."),
        finetune_epochs: int | None = typer.Option(None, "--finetune-epochs",
                                                   help="Fine-tuning epochs after pruning (default 2)."),
        lr: float = typer.Option(3e-3, "--lr", help="Learning rate (dense, gmp, admm)."),
        finetune_lr: float | None = typer.Option(
            None, "--finetune-lr", help="Fine-tuning learning rate (default lr/10 after gmp/admm, lr after l1, global "
            "or structured)."),
        batch_size: int = typer.Option(32, "--batch-size"),
        optimizer: str = typer.Option("adam", "--optimizer", help="adam or sgd."),
        model_arg: list[str] = typer.Option(None, "--model-arg", help="Model argument KEY=VALUE (e.g. width=0.25)."),
        data_opt: list[str] = typer.Option(None, "--data-opt", help="Dataset option KEY=VALUE (e.g. n_points=512)."),
        prunable: list[str] = typer.Option(None, "--prunable", help="Glob of prunable layer names (default all)."),
        exclude: list[str] = typer.Option(None, "--exclude", help="Glob of layers never pruned."),
        exclude_first: bool = typer.Option(False, "--exclude-first", help="Keep the first conv/linear layer dense."),
        exclude_last: bool = typer.Option(False, "--exclude-last", help="Keep the classifier dense."),
        gmp_initial_sparsity: float = typer.Option(0.0, "--gmp-initial-sparsity"),
        gmp_start_step: int = typer.Option(0, "--gmp-start-step"),
        gmp_end_step: int | None = typer.Option(None, "--gmp-end-step", help="Default: 75% of the gmp phase."),
        gmp_frequency: int | None = typer.Option(None, "--gmp-frequency", help="Steps between mask updates."),
        admm_rho: float = typer.Option(1e-3, "--admm-rho"),
        admm_rho_growth: float = typer.Option(1.5, "--admm-rho-growth"),
        admm_update_every: int | None = typer.Option(None, "--admm-update-every", help="Default: one epoch of steps."),
        structured_importance: str = typer.Option("l1", "--structured-importance", help="l1 or l2 filter norm."),
        structured_global: bool = typer.Option(False, "--structured-global", help="Rank channels across layers."),
        init: Path | None = typer.Option(None, "--init", help="Start from this checkpoint's weights."),
        trust_checkpoint: bool = typer.Option(False, "--trust-checkpoint",
                                              help="Allow --init to unpickle arbitrary objects (trusted files only)."),
        threads: int = typer.Option(1, "--threads", min=1, help="torch CPU threads (1 is fastest for these small models)."),
        no_latency: bool = typer.Option(False, "--no-latency", help="Skip the CPU latency measurement."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
    ) -> None:
        """Train and prune a model; write a weights-only checkpoint with its sparsity metadata.

        Methods compose in the order given, e.g. --method structured,l1 --sparsity 0.8.
        """
        from ..io import check_out_file
        from ..train.config import load_train_config

        dataset = data.partition(":")[2]
        inputs = [p for p in (init, Path(dataset).expanduser() if dataset else None) if p]
        check_out_file(out, inputs=inputs, force=force, ours=_is_our_checkpoint)
        settings = {
            "model": model, "model_kwargs": _key_values(model_arg, "--model-arg"), "data": data,
            "data_options": _key_values(data_opt, "--data-opt"), "methods": method, "nm": nm,
            "sparsity": (sparsity[0] if len(sparsity) == 1 else list(sparsity)) if sparsity else None,
            "epochs": epochs, "prune_epochs": prune_epochs, "finetune_epochs": finetune_epochs, "lr": lr,
            "finetune_lr": finetune_lr, "optimizer": optimizer, "batch_size": batch_size, "seed": seed,
            "prunable": list(prunable) if prunable else ["*"], "exclude": list(exclude or []),
            "exclude_first": exclude_first, "exclude_last": exclude_last,
            "gmp_initial_sparsity": gmp_initial_sparsity, "gmp_start_step": gmp_start_step,
            "gmp_end_step": gmp_end_step, "gmp_frequency": gmp_frequency, "admm_rho": admm_rho,
            "admm_rho_growth": admm_rho_growth, "admm_update_every": admm_update_every,
            "structured_importance": structured_importance, "structured_global": structured_global,
            "init_checkpoint": init, "trust_checkpoint": trust_checkpoint, "threads": threads,
            "measure_latency": not no_latency, "out": Path(out),
        }
        config = load_train_config(settings)
        from ..train import train

        with _progress(quiet) as progress:
            result = train(config, progress=progress)
        _print_report(result)


def _is_our_checkpoint(path: Path) -> bool:
    """A checkpoint written by sparse-hw (its pickle names our format); read as a zip, never unpickled."""
    import zipfile

    from ..train.checkpoint import FORMAT

    try:
        with zipfile.ZipFile(path) as zf:
            pkl = [n for n in zf.namelist() if n.endswith("/data.pkl")]
            return bool(pkl) and FORMAT.encode() in zf.read(pkl[0])[:1 << 20]
    except (OSError, zipfile.BadZipFile, KeyError, RuntimeError):
        return False


class _progress:
    """Rich progress bars on stderr, one per training phase (a no-op when quiet)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar, self.tasks = quiet, None, {}

    def __enter__(self):
        if self.quiet:
            return None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=err_console,
                            transient=False)
        self.bar.__enter__()
        return self.update

    def update(self, event) -> None:
        task = self.tasks.get(event.phase)
        if task is None:
            task = self.tasks[event.phase] = self.bar.add_task(event.phase, total=event.steps, info="")
        info = f"epoch {event.epoch}/{event.epochs}"
        if event.loss is not None:
            info += f" loss {event.loss:.3f}"
        if event.accuracy is not None:
            info += f" test acc {event.accuracy:.2%}"
        self.bar.update(task, completed=event.step, info=info)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)


def _print_report(result) -> None:
    from rich.table import Table

    from ..train.summary import figure_rows, layer_rows, notes

    meta = result.meta
    layers = Table(title=f"{meta.model_name} / {meta.dataset} / {'+'.join(meta.method)}: per-layer sparsity")
    for col, just in (("layer", "left"), ("shape", "left"), ("NNZ", "right"), ("density", "right"),
                      ("structure", "left")):
        layers.add_column(col, justify=just)
    for row in layer_rows(result):
        layers.add_row(*row)
    console.print(layers)
    figures = Table(title="model")
    for col, just in (("figure", "left"), ("before pruning", "right"), ("after", "right"), ("after/before", "right")):
        figures.add_column(col, justify=just)
    for row in figure_rows(result):
        figures.add_row(*row)
    console.print(figures)
    for line in notes(result):
        console.print(line, markup=False, highlight=False)
