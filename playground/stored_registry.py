"""A run registry whose runs live in the run store as well as in memory (playground/persist.py).

    registry = StoredRegistry(scheduler=..., backend=..., persistence=Persistence.from_env())

What changes against registry.RunRegistry:
    create        the run is saved (record, text, then all it does: Persistence is its observer)
    remove        a run deleted by its learner is deleted from the store too
    has_workspace a link not in memory is looked up in the store and its runs loaded back (if they
                  cannot be now, e.g. the Ray cluster is out of reach, the link is kept and a
                  later visit tries again: unavailable(token) says why)
    reap          the grace period frees memory, not work: runs are stopped, checkpointed and
                  dropped from memory (stop_owner), still in the store; old workspaces are culled
    set_display_name  the name the Room shows is saved on the workspace (restored with it)
    attach/detach mark the workspace seen (culled PLAYGROUND_KEEP_DAYS after it was last seen)
"""
from __future__ import annotations

import logging
import time

from .front import RunFront
from .persist import Persistence
from .registry import RunRegistry, release_memory

log = logging.getLogger(__name__)


class StoredRegistry(RunRegistry):
    """RunRegistry + a run store (see the module docstring)."""

    def __init__(self, *args, persistence: Persistence, **kwargs):
        super().__init__(*args, observer=persistence, **kwargs)
        self.persistence = persistence

    def knows(self, token: str) -> bool:
        """Whether the workspace is in memory now (the store is not asked)."""
        return super().has_workspace(token)

    def has_workspace(self, token: str) -> bool:
        """In memory, or found in the store and loaded back (its runs stopped at their last
        checkpoint, or claimed from those that resumed training at startup)."""
        if self.knows(token) and self.unavailable(token) is None:
            return True
        if not (token and self.persistence.restore_workspace(self, token)):
            return False
        self._load_display_name(token)
        return True

    def unavailable(self, token: str) -> str | None:
        """Why the link's saved runs are not loaded (they are kept; a later visit tries again), or None."""
        return self.persistence.unavailable.get(token)

    def set_display_name(self, token: str, name: str) -> None:
        """The Room's name for the workspace, kept in the store (every front, after a restart)."""
        super().set_display_name(token, name)
        self.persistence.writer.save_workspace(token, display_name=name)

    def stored_text(self, text_hash: str) -> str | None:
        """A text runs were trained on, from the store: a link opened on another front, or after a
        restart, shows the run's own text in the sidebar."""
        store = self.persistence.writer.usable_store
        try:
            return store.corpus(text_hash) if store is not None else None
        except Exception as e:  # noqa: BLE001 - a failing store: the sidebar says the text is unknown
            log.warning("run store: reading a text failed: %s", e)
            return None

    def _load_display_name(self, token: str) -> None:
        store = self.persistence.writer.usable_store
        try:
            record = store.find_workspace(token) if store is not None else None
        except Exception as e:  # noqa: BLE001 - a failing store: the name is only cosmetic
            log.warning("run store: reading a workspace's name failed: %s", e)
            return
        if record is not None and record.display_name:
            super().set_display_name(token, record.display_name)

    def create(self, model_config, train_config, text: str, owner: str, *args, **kwargs) -> RunFront:
        run = super().create(model_config, train_config, text, owner, *args, **kwargs)
        self.persistence.created(run, text)
        return run

    def remove(self, run_id: str) -> None:
        """Delete the run: from memory and from the store."""
        if run_id in self.runs:
            self.persistence.deleted(run_id)
        super().remove(run_id)

    def attach(self, token: str) -> None:
        super().attach(token)
        self.persistence.seen(token)

    def detach(self, token: str) -> None:
        super().detach(token)
        self.persistence.seen(token)

    def stop_owner(self, owner: str) -> None:
        """Unload a workspace (the grace period is over): each run is stopped and checkpointed,
        then dropped from memory; the store keeps them for the link's next visit."""
        runs = self.runs_of(owner)
        for run in runs:
            self.persistence.unload(run, self.limits.grace_minutes)
        with self._lock:
            for run in runs:
                self.runs.pop(run.run_id, None)
            self.workspaces.pop(owner, None)
        log.info("workspace %s: %d run(s) unloaded from memory (kept in the run store)", owner[:6], len(runs))
        release_memory()

    def reap(self, now: float | None = None) -> int:
        gone = super().reap(now)
        self.persistence.housekeeping(now)
        return gone

    def adopt(self, token: str, runs: list[RunFront]) -> None:
        """Put runs rebuilt from the store into the workspace `token` (the newest one selected)."""
        with self._lock:
            ws = self.workspace(token)
            for run in runs:
                self.runs[run.run_id] = run
                ws.run_ids.append(run.run_id)
            if runs and ws.active_run_id is None:
                ws.active_run_id = runs[-1].run_id
            ws.left_at = time.time()
        self._start_reaper()

    def claim(self, key: str, token: str) -> bool:
        """Give the workspace held under `key` (runs restored before their link came) to `token`."""
        with self._lock:
            ws = self.workspaces.pop(key, None)
            if ws is None:
                return False
            ws.token = token
            self.workspaces[token] = ws
            for run_id in ws.run_ids:
                if run_id in self.runs:
                    self.runs[run_id].owner = token
        return True
