"""The Optuna study: storage, sampler, seeding with baselines, and a budget shared by every worker.

Storage is an Optuna RDB (SQLite by default; ``postgresql://`` for several workers). Every trial's
heartbeat is recorded, so a worker killed with ``kill -9`` leaves a RUNNING trial that the next worker
fails after the grace period and re-enqueues with the same parameters (``RetryFailedTrialCallback``); a
single (non-worker) search owns its study and does the same at once when it resumes. The study is created
exactly once (its name is unique in the storage): the creator enqueues the baselines (and a fixed trial
list), then marks the study seeded; other workers wait for that mark before asking for trials.
"""

from __future__ import annotations

import time
from typing import Any

import optuna
from optuna.trial import TrialState

from ..errors import ConfigError
from .config import SearchConfig

HEARTBEAT_S = 2
GRACE_S = 10
SEEDED = "sparse_hw:seeded"
CONFIG_KEY = "sparse_hw:config_sha256"
LABEL = "sparse_hw:label"
SURPLUS = "sparse_hw:surplus"


class Surplus(Exception):
    """A trial asked for after the budget was reached by other workers: recorded as failed, not run."""


def storage(cfg: SearchConfig, attempts: int = 10) -> optuna.storages.RDBStorage:
    """The study's RDB storage. Workers that start together on an empty PostgreSQL database race to create
    Optuna's schema (two ``CREATE TYPE studydirection`` collide on ``pg_type_typname_nsp_index``); the loser
    retries, and then finds the schema the winner made."""
    import warnings

    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5, and what resume relies on
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(
                    cfg.storage_url(), heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3),
                    engine_kwargs={"pool_pre_ping": True},
                )
        except (IntegrityError, ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def sampler(cfg: SearchConfig) -> optuna.samplers.BaseSampler:
    if cfg.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=cfg.seed, multivariate=True)
    trials = cfg.budget.trials or 40
    return optuna.samplers.NSGAIISampler(seed=cfg.seed, population_size=max(4, min(50, trials // 4)))


def directions(cfg: SearchConfig) -> list[str]:
    return ["maximize"] + ["minimize"] * len(cfg.archs)


def open_study(cfg: SearchConfig, config_sha: str, seeds: list[tuple[str, dict[str, Any]]]) -> optuna.Study:
    """Create the study and enqueue ``seeds`` (label, params), or load it; refuses another config's study."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = storage(cfg)
    name = cfg.study_name()
    try:
        study = optuna.create_study(storage=store, sampler=sampler(cfg), study_name=name,
                                    directions=directions(cfg), load_if_exists=False)
        study.set_user_attr(CONFIG_KEY, config_sha)
        for label, params in seeds:
            study.enqueue_trial(params, user_attrs={LABEL: label}, skip_if_exists=False)
        study.set_user_attr(SEEDED, True)
        return study
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=store, sampler=sampler(cfg))
    deadline = time.monotonic() + 120
    while not study.user_attrs.get(SEEDED):
        if time.monotonic() > deadline:
            raise ConfigError(f"study {name!r} exists but was never seeded (its creator died while enqueueing)",
                              key_path="storage", fix="delete the study (optuna delete-study) and start again")
        time.sleep(0.5)
    if study.user_attrs.get(CONFIG_KEY) != config_sha:
        raise ConfigError(f"study {name!r} in this storage was made from another configuration",
                          key_path="name", fix="rename the search (a new study), or delete the old study")
    return study


def requeue_orphans(study: optuna.Study) -> int:
    """Fail the RUNNING trials of a study this process owns alone (a killed earlier run) and enqueue their
    parameters again: each is then run exactly once."""
    orphans = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in orphans:
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, user_attrs={LABEL: "search", **t.user_attrs, "sparse_hw:retry_of": t.number})
    return len(orphans)


def counts(study: optuna.Study) -> dict[TrialState, int]:
    out = {s: 0 for s in TrialState}
    for t in study.get_trials(deepcopy=False):
        out[t.state] += 1
    return out


def budget_left(cfg: SearchConfig, study: optuna.Study, deadline: float | None) -> bool:
    """Whether to ask for one more trial: the time budget, then the trial budget (complete + running,
    over every worker), or, with a fixed trial list, whether any enqueued trial is waiting."""
    if deadline is not None and time.monotonic() >= deadline:
        return False
    c = counts(study)
    if cfg.trials is not None:
        return c[TrialState.WAITING] > 0
    if cfg.budget.trials is not None:
        return c[TrialState.COMPLETE] + c[TrialState.RUNNING] < cfg.budget.trials or c[TrialState.WAITING] > 0
    return True


def check_not_surplus(cfg: SearchConfig, study: optuna.Study, trial: optuna.Trial) -> None:
    """Raise Surplus when ``trial`` was sampled (not enqueued) although the budget is already spent: the
    race between two workers' budget checks and their asks."""
    if LABEL in trial.user_attrs:  # enqueued (baselines, a fixed list, a retried trial)
        return
    c = counts(study)
    others = c[TrialState.COMPLETE] + c[TrialState.RUNNING] - 1
    if cfg.trials is not None or (cfg.budget.trials is not None and others >= cfg.budget.trials):
        trial.set_user_attr(SURPLUS, True)
        raise Surplus()
    trial.set_user_attr(LABEL, "search")  # a retry of this trial (after a kill) then counts as enqueued


def wait_for_others(study: optuna.Study, poll_s: float = 1.0) -> bool:
    """With the budget spent, wait while other workers still run trials (the outputs cover every trial);
    a worker that died is failed after the heartbeat grace period and its trial enqueued again. False
    once nothing runs (done); True after one wait (look at the budget again: a retry may be waiting)."""
    if counts(study)[TrialState.RUNNING] == 0:
        return False
    time.sleep(poll_s)
    optuna.storages.fail_stale_trials(study)
    return True
