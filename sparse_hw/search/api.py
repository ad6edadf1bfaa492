"""``search(config) -> Path``: the whole hardware-aware sparsity search, resumable and shareable.

Train the dense model once (reused while its settings stay the same), seed the study with baselines,
run trials until the budget is spent (each: prune per layer, short fine-tune, extract, bucket-cached
hardware cost), then write the outputs. Without ``worker``, the front is then trained in full and
simulated exactly (`sparse_hw.pipeline.simulate`), its checkpoints kept for extract/simulate/report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from ..io import atomic_write, refuse_foreign_folder, sha256_bytes
from . import study as st
from .config import SearchConfig, load_search_config
from .hardware import HardwareModel
from .outputs import equal_training_table, front_table, trials_table, write_outputs
from .space import Decoded, baseline_trials, decode, distributions
from .trial import build_network


def _dense(cfg: SearchConfig, out: Path, log: Callable[[str], None]) -> Path:
    """The dense checkpoint, trained once; reused while the dense settings are unchanged."""
    from ..pipeline import train
    from ..train.config import TrainConfig

    target = out / "dense" / "model.pt"
    tconf = TrainConfig.model_validate({**cfg.dense_train_config(), "out": str(target)})
    key = sha256_bytes(tconf.model_dump_json())
    stamp = target.with_suffix(".stamp")
    if target.is_file() and stamp.is_file() and stamp.read_text().strip() == key:
        log(f"dense: reusing {target}")
        return target
    log(f"dense: training {cfg.model} on {cfg.data} ({tconf.epochs} epochs)")
    train(tconf)
    atomic_write(stamp, key + "\n")
    return target


def _cost_ratios(cfg: SearchConfig, dense: Path, layers: list[str], numels: dict[str, int], hw: HardwareModel,
                 log: Callable[[str], None]) -> dict[str, float] | None:
    """The dense network's marginal hardware cost per weight of each layer over the network's (what the
    tilt of ``global`` scales by, `.tilt`), from its own extract; None when the space has no tilt."""
    if "global_tilt" not in distributions(cfg, layers):
        return None
    import tempfile

    from ..pipeline import extract
    from .tilt import marginal_ratios

    # a folder of this process's own: workers sharing one output folder measure side by side
    with tempfile.TemporaryDirectory(prefix="sparse-hw-tilt-") as tmp:
        ex = extract(dense, out=Path(tmp) / "extract", calib_samples=cfg.extract.calib_samples, seed=cfg.seed)
        files = {r.layer: p for r, p in zip(ex.records, ex.problems, strict=True)}
        missing = [n for n in layers if n not in files]
        if missing:  # a prunable layer the extract does not model: the tilt would be silently partial
            raise ValueError(f"the dense extract has no problem for {', '.join(missing)}")
        log(f"tilt: measuring each layer's marginal {cfg.objectives.hardware} per weight on {', '.join(cfg.archs)}")
        ratios = marginal_ratios(hw, {n: files[n] for n in layers}, numels, cfg.objectives.hardware)
    log("tilt: cost per weight over the network's: " + ", ".join(f"{n} {ratios[n]:.3g}" for n in layers))
    return ratios


def _suggest(trial: optuna.Trial, dists: dict[str, Any]) -> dict[str, Any]:
    params = {}
    for name, d in dists.items():
        if isinstance(d, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, d.choices)
        elif isinstance(d, IntDistribution):
            params[name] = trial.suggest_int(name, d.low, d.high)
        elif isinstance(d, FloatDistribution):
            params[name] = trial.suggest_float(name, d.low, d.high, log=d.log)
    return params


def _layer_facts(extract_dir: Path) -> dict[str, dict[str, float]]:
    from ..table_checks import read_layers_csv

    table = read_layers_csv(extract_dir / "layers.csv")
    return {str(r["layer"]): {"weight": float(r["weight_density"]), "input": float(r["input_density"]),
                              "output": float(r["output_density"])} for _, r in table.iterrows()}


def _problems(extract_dir: Path) -> list[Path]:
    return sorted((extract_dir / "problems").glob("*.yaml"))


class _Objective:
    def __init__(self, cfg: SearchConfig, study: optuna.Study, dense: Path, out: Path, layers: list[str],
                 numels: dict[str, int], hw: HardwareModel, log: Callable[[str], None],
                 ratios: dict[str, float] | None = None) -> None:
        self.cfg, self.study, self.dense, self.out, self.layers = cfg, study, dense, out, layers
        self.numels, self.hw, self.log, self.ratios = numels, hw, log, ratios
        self.dists = distributions(cfg, layers)

    def __call__(self, trial: optuna.Trial) -> list[float]:
        params = _suggest(trial, self.dists)
        st.check_not_surplus(self.cfg, self.study, trial)
        decoded = decode(self.cfg, params, self.layers, self.numels, self.ratios)
        net = build_network(self.cfg, self.dense, decoded, self.out / "trials" / f"{trial.number:05d}")
        started = time.perf_counter()
        cost = self.hw.evaluate(_problems(net.extract_dir))
        hw_s = time.perf_counter() - started
        total = sum(self.numels[n] for n in self.layers)
        attrs = {
            "method": decoded.method, "finetune_epochs": decoded.finetune_epochs, "global_tilt": decoded.tilt,
            "target_sparsity": decoded.global_target, "accuracy": net.accuracy,
            "layer_sparsity": net.weight_sparsity,
            "weight_sparsity_total": sum(net.weight_sparsity[n] * self.numels[n] for n in self.layers) / total,
            "densities": _layer_facts(net.extract_dir), "energy_pj": cost.energy_pj, "cycles": cost.cycles,
            "train_s": round(net.train_s, 3), "extract_s": round(net.extract_s, 3), "hardware_s": round(hw_s, 3),
            "mappings_searched": cost.mapped,
            **({"channels_kept": net.channels} if net.channels else {}),
        }
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        tilt = f" tilt {decoded.tilt:.2f}" if decoded.global_scale else ""
        tilt += (" channels " + ",".join(f"{n}={k}" for n, k in net.channels.items())) if net.channels else ""
        self.log(f"trial {trial.number}: {decoded.method}{tilt} target {decoded.global_target:.2f} -> accuracy "
                 f"{net.accuracy:.3f}, " + ", ".join(f"{a} {cost.energy_pj[a] / 1e6:.3f} µJ" for a in self.cfg.archs)
                 + f" (train {net.train_s:.1f} s, hardware {hw_s:.2f} s, {cost.mapped} mapped)")
        return [net.accuracy] + [cost.metric(a, self.cfg.objectives.hardware) for a in self.cfg.archs]


def _finalize(cfg: SearchConfig, dense: Path, out: Path, numbers: list[int], trials: dict[int, Any],
              layers: list[str], numels: dict[str, int], log: Callable[[str], None],
              ratios: dict[str, float] | None = None, baselines: tuple[int, ...] = ()) -> dict[int, dict[str, Any]]:
    """Train each front point, and each of ``baselines`` not on it, in full (same cut, ``final.finetune_epochs``;
    into ``front/`` and ``baselines/``) and simulate it exactly."""
    import pandas as pd

    from ..pipeline import simulate

    final: dict[int, dict[str, Any]] = {}
    dirs = {}
    on_front = set(numbers)
    numbers = sorted(on_front | set(baselines))
    for n in numbers:
        decoded: Decoded = decode(cfg, trials[n].params, layers, numels, ratios)
        what = "front" if n in on_front else "baselines"
        log(f"{what}: training trial {n} in full ({cfg.final.finetune_epochs} fine-tune epochs)")
        net = build_network(cfg, dense, decoded, out / what / f"{n:05d}", epochs=cfg.final.finetune_epochs)
        dirs[n] = net.extract_dir
        final[n] = {"accuracy": net.accuracy, "checkpoint": str(net.checkpoint.relative_to(out))}
    if not numbers:
        return final
    log(f"final: simulating {len(numbers)} checkpoint(s) exactly on {', '.join(cfg.archs)}")
    sim = simulate([dirs[n] for n in numbers], cfg.archs, out=out / "front" / "simulate", seed=cfg.seed,
                   budget_s=cfg.simulate.budget_s, metrics=cfg.simulate.metrics, pad=False, workers=1,
                   cache=cfg.cache_dir() / "mappings.sqlite", force=True)
    results = pd.read_csv(sim / "results.csv")
    for n in numbers:
        ckpt_id = str(pd.read_csv(dirs[n] / "layers.csv")["checkpoint"].iloc[0])
        rows = results[results["checkpoint"].astype(str) == ckpt_id]
        final[n]["energy_pj"] = {a: float(rows[rows["arch"] == a]["energy_pj"].sum()) for a in cfg.archs}
        final[n]["cycles"] = {a: float(rows[rows["arch"] == a]["cycles"].sum()) for a in cfg.archs}
    return final


#: What a search writes first (the dense model, its trials, study and cache): a folder holding none of them is
#: not a search's.
_SEARCH_MARKS = ("dense", "trials", "study.db", "cache", "front")


def _foreign_in_search_dir(names: list[str]) -> list[str]:
    """A folder holding any of a search's first files is a search's (interrupted or finished: resumed)."""
    return [] if any(m in names for m in _SEARCH_MARKS) else names


def search(config: str | Path | SearchConfig, *, storage: str | None = None, worker: bool = False,
           log: Callable[[str], None] = lambda m: None) -> Path:
    """Run (or resume, or join) the search of ``config``; returns the output folder.

    ``storage``: Optuna RDB URL overriding the config's; ``worker``: share the study with other
    processes, run trials only (no full training of the front; a later run without ``worker`` does it).
    """
    cfg = config if isinstance(config, SearchConfig) else load_search_config(config, storage=storage)
    if isinstance(config, SearchConfig) and storage is not None:
        cfg = cfg.model_copy(update={"storage": storage})
    out = cfg.out_dir()
    refuse_foreign_folder(out, _foreign_in_search_dir, what="search",
                          config=config if isinstance(config, (str, Path)) else None)
    out.mkdir(parents=True, exist_ok=True)
    from .prune import layer_names

    layers = layer_names(cfg)
    dense = _dense(cfg, out, log)
    from ..train.checkpoint import load_checkpoint

    _, meta = load_checkpoint(dense)
    numels = {r.name: r.numel for r in meta.per_layer}
    seeds = baseline_trials(cfg, layers) + [(f"fixed-{i}", p) for i, p in enumerate(cfg.trials or [])]
    config_sha = sha256_bytes(json.dumps(cfg.model_dump(mode="json", exclude={"storage", "out", "budget", "cache",
                                                                              "final"}),
                                         sort_keys=True))
    study = st.open_study(cfg, config_sha, seeds)
    if not worker and cfg.storage_url().startswith("sqlite:"):  # a shared server: heartbeats tell the dead
        requeued = st.requeue_orphans(study)
        if requeued:
            log(f"resume: {requeued} interrupted trial(s) enqueued again")
    hw = HardwareModel(cfg.archs, cache_dir=cfg.cache_dir(), bucket=cfg.space.bucket, seed=cfg.seed,
                       budget_s=cfg.simulate.budget_s, metrics=cfg.simulate.metrics)
    try:
        ratios = _cost_ratios(cfg, dense, layers, numels, hw, log)
        deadline = time.monotonic() + cfg.budget.time_s if cfg.budget.time_s else None
        objective = _Objective(cfg, study, dense, out, layers, numels, hw, log, ratios)
        while True:
            if st.budget_left(cfg, study, deadline):
                study.optimize(objective, n_trials=1, catch=(st.Surplus,))
            elif not st.wait_for_others(study):
                break
    finally:
        hw.close()
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    table = trials_table(complete, cfg.archs, hw.exploits, layers)
    final = None
    if not worker and cfg.final.train and not table.empty:
        front = front_table(table, cfg.archs, cfg.objectives.hardware, None, layers)
        numbers = sorted(set(int(n) for n in front["number"]))
        baselines = tuple(int(n) for n in table[table["label"].str.match(r"(uniform|global)-")]["number"]) \
            if cfg.final.baselines else ()
        final = _finalize(cfg, dense, out, numbers, {t.number: t for t in complete}, layers, numels, log, ratios,
                          baselines)
    front = front_table(table, cfg.archs, cfg.objectives.hardware, final, layers) if not table.empty else table
    summary = [f"# Search {cfg.name}: study `{cfg.study_name()}`",
               f"{len(complete)} completed trials, sampler {cfg.sampler}, seed {cfg.seed}, objective accuracy vs "
               f"{cfg.objectives.hardware} on {', '.join(cfg.archs)}."]
    if ratios:
        basis = "cycles" if cfg.objectives.hardware == "cycles" else "energy"
        summary.append(f"Tilt of global pruning: each layer's marginal {basis} per weight over the network's, "
                       "measured on the dense network: " + ", ".join(f"{n} {ratios[n]:.3g}" for n in layers) + ".")
    equal = (equal_training_table(table, final, cfg.archs), cfg.final.finetune_epochs) \
        if final and cfg.final.baselines else None
    write_outputs(out, table, front, cfg.archs, hw.exploits, layers, summary, cfg.objectives.hardware, equal)
    timings = [{"number": t.number, **{k: t.user_attrs.get(k) for k in
                                       ("train_s", "extract_s", "hardware_s", "mappings_searched")}}
               for t in sorted(complete, key=lambda t: t.number)]
    import pandas as pd

    atomic_write(out / "timings.csv", pd.DataFrame(timings).to_csv(index=False))
    return out
