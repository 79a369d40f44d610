"""The app's runs: the one registry, made with the backend PLAYGROUND_BACKEND names.

    from playground.runner import REGISTRY
    run = REGISTRY.create(model_config, train_config, text, owner, corpus_key=...)   # a RunFront
    run.start(steps) / pause() / resume() / step(n) / stop() / set_lr(lr) / update_settings(...)
    run.snapshot() -> Snapshot          # a consistent copy for a page to draw; never waits for a step
    run.copy_model() -> (model, vocab, model_config)   # CPU copy between steps
    run.checkpoint_bytes() / run.val_text(n)

Where each part lives: the run front and its types in playground/front.py, the local run in
playground/run.py, the Ray run in playground/ray_backend.py, workspaces, limits and reaping in
playground/registry.py, the run store behind them in playground/persist.py and
playground/stored_registry.py. This module only wires them (and re-exports their names).
"""
from __future__ import annotations

import atexit
import logging
import os
import threading

from .front import ACTIVE, HistoryRow, RunFront, RunObserver, RunSettings, Sample, Snapshot, Status  # noqa: F401
from .limits import LIMITS, Limits
from .registry import RunRegistry, Workspace  # noqa: F401
from .run import LocalBackend, Run  # noqa: F401
from .scheduler import SCHEDULER, Scheduler
from .train import warm_up

log = logging.getLogger(__name__)


class UnavailableBackend:
    """A backend that cannot make runs; Start shows why (e.g. a misspelt PLAYGROUND_BACKEND)."""
    name = "unavailable"

    def __init__(self, message: str):
        self.message = message

    def make_run(self, *args, **kwargs) -> RunFront:
        raise ValueError(self.message)


def backend_from_env(scheduler: Scheduler, limits: Limits, env: dict | None = None):
    """PLAYGROUND_BACKEND: "local" (default) or "ray" (playground/ray_backend.py; ray itself is
    imported on the first run only)."""
    name = (os.environ if env is None else env).get("PLAYGROUND_BACKEND", "").strip().lower() or "local"
    if name == "local":
        return LocalBackend(scheduler, limits)
    if name == "ray":
        from .ray_backend import RayBackend
        return RayBackend(limits, env)
    log.error("PLAYGROUND_BACKEND=%r is not a backend (use 'local' or 'ray'): no run can start", name)
    return UnavailableBackend(f"PLAYGROUND_BACKEND={name[:20]!r} is not a backend: the instructor can "
                              "set 'local' or 'ray'")


def registry_from_env(scheduler: Scheduler, limits: Limits, env: dict | None = None) -> RunRegistry:
    """The app's registry, its runs saved in the run store (playground/persist.py): a SQLite file
    in PLAYGROUND_DATA_DIR, or the database PLAYGROUND_DATABASE_URL names. Runs that were training
    when the server stopped resume in a background thread; a store that cannot be used leaves
    the app working in memory (every page says so, the log says why)."""
    from .persist import Persistence
    from .stored_registry import StoredRegistry
    persistence = Persistence.from_env(env, keep_days=limits.keep_days)
    registry = StoredRegistry(scheduler=scheduler, backend=backend_from_env(scheduler, limits, env),
                              persistence=persistence)
    persistence.resume_saved(registry)
    if registry.backend.name == "local":
        warm_up_soon()
    if registry.backend.name == "ray" and registry.backend.address:
        from .ray_backend import join_soon
        join_soon(registry.backend)     # joined before the first Start (the first page view imports this)
    return registry


def warm_up_soon() -> threading.Thread:
    """train.warm_up in a background thread, as the server starts (waited for at exit: a thread
    stopped inside a torch op there would abort the process)."""
    def warm() -> None:
        log.info("torch warmed up in %.1f s (its first optimizer's imports)", warm_up())

    thread = threading.Thread(target=warm, name="torch-warm-up", daemon=True)
    thread.start()
    atexit.register(thread.join, 30)
    return thread


REGISTRY = registry_from_env(SCHEDULER, LIMITS)
