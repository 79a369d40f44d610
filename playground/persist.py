"""The run store behind the registry: what is saved as runs train, and how runs come back after
a restart (clean or killed) or after the grace period unloaded them.

    persistence = Persistence.from_env()       # PLAYGROUND_DATABASE_URL / PLAYGROUND_DATA_DIR
    registry = RunRegistry(..., persistence=persistence)
    persistence.resume_saved(registry)          # a thread: runs that were training go on

What is saved, when (all through store_writer.StoreWriter: queued, written by its thread):
    created(run, text)   the run record: configs, label, corpus key, the text (stored once by
                         its sha256), settings; a run resumed from an uploaded checkpoint also
                         gets its trainer state at once
    on_status            status, step, message, target step and training time at every change;
                         a checkpoint when a run pauses, stops, finishes, diverges or fails
                         (history after a divergence's rollback step is dropped)
    on_history           history rows (upsert by step; written every FLUSH_EVERY s)
    on_sample            each sample
    after each step      a checkpoint after every CHECKPOINT_EVERY s of training (the sum of
                         step times): the trainer's state is copied on the training thread, between
                         steps (resume.trainer_state: CPU copies, milliseconds) and serialised
                         (torch.save) on the writer's thread
    unload(run)          the grace period is over: stopped, checkpointed, dropped from memory;
                         the store keeps it
    deleted(run_id)      gone from the store too

A checkpoint here is resume.state_bytes(trainer_state): weights, optimizer moments, lr and
annealing state, sampler position and carried hidden state, RNG states, history: a restored run
continues with the losses it would have had. Runs from another backend may have a
checkpoint.save_checkpoint (weights and history) instead; both are read back.

After a restart, runs that were queued, running or paused are rebuilt from their last
checkpoint at startup (queued/running ones start again by themselves) under a placeholder owner
(ORPHAN + the token's sha256: the store has no tokens); the first page opened with the link
claims them. Other runs load when their link is first opened (restore_workspace).
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from typing import TYPE_CHECKING

from .checkpoint import CheckpointError, read_checkpoint
from .config import ModelConfig, TrainConfig
from .front import HistoryRow, RunFront, Sample, Status
from .resume import ResumeError, restore_trainer, state_bytes, trainer_state
from .run import Run
from .store import RunStore
from .store_records import RunRecord, hash_token
from .store_schema import StoreError
from .store_writer import StoreWriter
from .train import Trainer

if TYPE_CHECKING:
    from .registry import RunRegistry

log = logging.getLogger(__name__)
CHECKPOINT_EVERY = 30.0     # s of training between checkpoints of a training run
FLUSH_EVERY = 2.0           # s between writes of queued rows (the issue asks for <= 5 s)
ORPHAN = "sha256:"          # + hash_token(token): the owner of a run restored before its link came
SAVE_AT = frozenset({Status.PAUSED, Status.STOPPED, Status.FINISHED, Status.DIVERGED, Status.ERROR})
CULL_EVERY = 3600.0         # s between culls of workspaces unseen for keep_days


class Persistence:
    """A RunObserver that saves every run of a registry in a run store (module docstring)."""

    def __init__(self, writer: StoreWriter, keep_days: float = 7.0, checkpoint_every: float = CHECKPOINT_EVERY):
        self.writer, self.keep_days, self.checkpoint_every = writer, keep_days, checkpoint_every
        self.resumed = threading.Event()        # set when the startup resume is over
        self.unavailable: dict[str, str] = {}   # link -> why its saved runs could not be loaded (yet)
        self._runs: dict[str, RunFront] = {}    # the runs saved here that are in memory
        self._trained: dict[str, float] = defaultdict(float)   # s trained since the last checkpoint
        self._saved_step: dict[str, int] = {}   # step of the last checkpoint queued
        self._lock, self._restoring = threading.Lock(), threading.Lock()
        self._culled_at = 0.0

    @classmethod
    def from_env(cls, env: dict | None = None, keep_days: float = 7.0) -> "Persistence":
        """The store PLAYGROUND_DATABASE_URL or PLAYGROUND_DATA_DIR names, opened by the writer's
        thread (an unusable one is reported by `problem()` and the log; writes are retried)."""
        writer = StoreWriter(lambda: RunStore.open(env=env), flush_every=FLUSH_EVERY).start()
        persistence = cls(writer, keep_days)
        atexit.register(persistence.close)
        return persistence

    # ---- health -------------------------------------------------------------------------------
    def problem(self) -> str | None:
        """Why work is not being saved, in a user's words (None while saving)."""
        health = self.writer.health
        if health.saving:
            return None
        return (f"Your work is not being saved: {health.reason.rstrip('.')}. Training goes on in memory, but runs "
                "are lost if the server restarts. The server keeps trying"
                + (f" ({health.pending:,} change(s) waiting)." if health.pending else "."))

    def ready(self, timeout: float = 10.0) -> RunStore | None:
        """The open store once everything queued is written; None if it cannot be used now."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.writer.flush(timeout=0.5):
                return self.writer.store
            if not self.writer.health.saving:
                return None
        return None

    # ---- the registry's side ---------------------------------------------------------------------
    def created(self, run: RunFront, text: str) -> None:
        """A new run: its record (and text), and its trainer state if it did not start at 0."""
        corpus_hash = self.writer.put_corpus(text)
        self.writer.save_run(RunRecord.for_token(
            run.owner, run_id=run.run_id, model_config=run.model_config.to_dict(),
            train_config=run.train_config.to_dict(), label=run.label, status=str(run.status),
            step=run.steps_done, corpus_key=run.corpus_key, corpus_hash=corpus_hash, settings=asdict(run.settings)))
        self.track(run)
        if run.steps_done:
            self._checkpoint_later(run)

    def track(self, run: RunFront) -> None:
        """Save what this run does from now on (a local run is also checkpointed as it trains)."""
        with self._lock:
            self._runs[run.run_id] = run
            self._saved_step.setdefault(run.run_id, run.steps_done)
        if isinstance(run, Run):
            run.trainer.add_callback("on_step_end", lambda t, m: self._after_step(run.run_id, t, m.seconds))

    def seen(self, token: str) -> None:
        """A page of this link was opened (or closed): workspaces unseen for keep_days are culled."""
        self.writer.touch_workspace(token)

    def deleted(self, run_id: str) -> None:
        self._forget(run_id)
        self.writer.delete_run(run_id)

    def unload(self, run: RunFront, grace_minutes: float) -> None:
        """The grace period is over: stop the run (its checkpoint is queued) and forget it here."""
        if run.is_active:
            run.stop(f"Unloaded from memory {grace_minutes:g} min after its last viewer left, at step "
                     f"{run.steps_done:,}; Continue trains it on from there.")
        elif self._saved_step.get(run.run_id) != run.steps_done:
            self._checkpoint_later(run)
        self._forget(run.run_id)

    def housekeeping(self, now: float | None = None) -> int:
        """Cull workspaces unseen for keep_days (at most once per CULL_EVERY); how many."""
        now = time.time() if now is None else now
        if now - self._culled_at < CULL_EVERY or not self.writer.health.saving or self.writer.store is None:
            return 0
        self._culled_at = now
        try:
            return self.writer.store.cull(self.keep_days, now)
        except Exception as e:  # noqa: BLE001 - the store may fail; the reaper goes on
            log.warning("run store: culling old workspaces failed: %s", e)
            return 0

    # ---- RunObserver ----------------------------------------------------------------------------
    def on_history(self, run_id: str, rows: list[HistoryRow]) -> None:
        self.writer.append_history(run_id, rows)

    def on_sample(self, run_id: str, sample: Sample) -> None:
        self.writer.add_sample(run_id, sample)

    def on_status(self, run_id: str, status: Status, step: int) -> None:
        run = self._runs.get(run_id)
        extra = {}
        if isinstance(run, Run):
            extra = dict(message=run.message, target_step=run.target_step, running_seconds=run.running_seconds)
        self.writer.update_run_status(run_id, status, step, **extra)
        if status == Status.DIVERGED:
            self.writer.truncate_history(run_id, step)
        if status in SAVE_AT and run is not None and self._saved_step.get(run_id) != step:
            self._checkpoint_later(run)

    # ---- checkpoints ------------------------------------------------------------------------------
    def _after_step(self, run_id: str, trainer: Trainer, seconds: float) -> None:
        """On the training thread, between steps: copy the state when CHECKPOINT_EVERY s of
        training have passed since the last checkpoint (serialised on the writer's thread)."""
        self._trained[run_id] += seconds
        if self._trained[run_id] < self.checkpoint_every:
            return
        try:
            state = trainer_state(trainer)
        except Exception:  # noqa: BLE001 - a failed copy must not end the step
            log.exception("run %s: its state could not be copied for a checkpoint", run_id[:6])
            return
        self._queue_checkpoint(run_id, trainer.steps_done, lambda: state_bytes(state))

    def _checkpoint_later(self, run: RunFront) -> None:
        """A checkpoint made on the writer's thread (it waits for the step in flight)."""
        if isinstance(run, Run):
            self._queue_checkpoint(run.run_id, run.steps_done, lambda: _state_bytes(*run.checkpoint(trainer_state)))

    def _queue_checkpoint(self, run_id: str, step: int, make) -> None:
        self._trained[run_id] = 0.0
        self._saved_step[run_id] = step
        self.writer.put_checkpoint(run_id, step, make)

    def _forget(self, run_id: str) -> None:
        with self._lock:
            self._runs.pop(run_id, None)
            self._trained.pop(run_id, None)
            self._saved_step.pop(run_id, None)

    # ---- coming back ------------------------------------------------------------------------------
    def resume_saved(self, registry: "RunRegistry") -> threading.Thread:
        """In a thread: cull old workspaces, then rebuild the runs that were queued, running or
        paused when the server stopped (queued/running ones train on), each workspace under
        ORPHAN + its hash until its link claims it."""
        thread = threading.Thread(target=self._resume_saved, args=(registry,), name="run-store-resume", daemon=True)
        thread.start()
        return thread

    def _resume_saved(self, registry: "RunRegistry") -> None:
        t0 = time.perf_counter()
        try:
            store = self.ready(timeout=30.0)
            if store is None:
                return
            self.housekeeping()
            by_workspace = defaultdict(list)
            for record in store.all_active_runs():
                by_workspace[record.workspace].append(record)
            for workspace, records in by_workspace.items():
                runs = [r for r in (rebuild(self, store, registry, rec, ORPHAN + workspace) for rec in records) if r]
                registry.adopt(ORPHAN + workspace, runs)
            if by_workspace:
                log.info("run store: %d run(s) of %d workspace(s) restored in %.1f s", sum(map(len, by_workspace.values())),
                         len(by_workspace), time.perf_counter() - t0)
        except Exception:  # noqa: BLE001 - the app goes on in memory
            log.exception("run store: restoring the runs that were training failed")
        finally:
            self.resumed.set()

    def restore_workspace(self, registry: "RunRegistry", token: str) -> bool:
        """Bring a link's workspace back into memory: runs restored at startup (claimed), or the
        store's (stopped, at their last checkpoint); False if none. `unavailable`: not now, kept."""
        self.resumed.wait(timeout=30.0)
        with self._restoring:
            if token not in self.unavailable and (registry.knows(token) or registry.claim(ORPHAN + hash_token(token), token)):
                self.seen(token)
                return True
            runs, why = load_link(self, registry, token)
            if why is not None:          # saved, but none loads now (e.g. the Ray cluster is out of reach)
                self.unavailable[token] = why
                return True              # the link is kept: a later visit loads them
            self.unavailable.pop(token, None)
            if runs is not None and (runs or not registry.knows(token)):   # none: the link is still the
                registry.adopt(token, runs)     # store's (its run made just before a front crashed): kept
                self.seen(token)
            return runs is not None or registry.knows(token)   # (knows: a retry, its session holds it)

    def latest_checkpoint(self, run_id: str) -> bytes | None:
        """The run's last checkpoint in the store, None if none or the store fails (what a Ray
        run's restart starts from)."""
        store = self.ready(timeout=5.0) if self.writer.health.saving else None
        ckpt = _safely(lambda: store.latest_checkpoint(run_id), None) if store is not None else None
        return ckpt.data if ckpt is not None else None

    def close(self, timeout: float = 10.0) -> bool:
        """At exit: checkpoint the runs in memory whose last checkpoint is older, and flush."""
        for run in list(self._runs.values()):
            if (steps := _steps_at_exit(run)) is not None and self._saved_step.get(run.run_id) != steps:
                self._checkpoint_later(run)
        return self.writer.close(timeout)


def _steps_at_exit(run: RunFront) -> int | None:
    """run.steps_done, or None (one line logged) when it cannot be read: e.g. Ray already shut
    down at exit (its pool keeps the run)."""
    try:
        return run.steps_done
    except Exception as e:  # noqa: BLE001 - whatever the backend raises at exit
        log.warning("run store: run %s not checkpointed at exit (%s)", run.run_id[:6], type(e).__name__)
        return None


def load_link(persistence: Persistence, registry: "RunRegistry", token: str) -> tuple[list[RunFront] | None, str | None]:
    """The link's runs in the store (those not in memory), rebuilt, None if the store does not
    know the link; and, if there were some but none could be, why (else None)."""
    store = persistence.ready(timeout=5.0) if persistence.writer.health.saving else None
    records = _safely(lambda: store.runs_of(token), []) if store is not None else []
    if not records and not (store is not None and _safely(lambda: store.find_workspace(token) is not None, False)):
        return None, None
    records = [rec for rec in records if rec.run_id not in registry.runs]   # made since, in memory
    errors: list[str] = []
    runs = [r for r in (rebuild(persistence, store, registry, rec, token, errors) for rec in records) if r]
    if records and not runs:
        return runs, errors[0] if errors else "they could not be rebuilt"
    return runs, None


def rebuild(persistence: Persistence, store: RunStore, registry: "RunRegistry", record: RunRecord,
            owner: str, errors: list[str] | None = None) -> RunFront | None:
    """A run from its record and last checkpoint, saved from now on and given its saved status
    (None, logged and its reason added to `errors`, if it cannot be rebuilt)."""
    try:
        run = rebuild_run(store, registry.backend, record, owner, persistence)
    except Exception as e:  # noqa: BLE001 - one broken run must not hide the others
        log.exception("run store: run %s could not be restored", record.run_id[:6])
        if errors is not None:
            errors.append(str(e) if isinstance(e, ValueError) else f"{type(e).__name__} (in the server log)")
        return None
    if run.steps_done < record.step:
        persistence.writer.truncate_history(record.run_id, run.steps_done)   # those steps train again
    persistence.track(run)
    continue_run(run, record)
    return run


def rebuild_run(store: RunStore, backend, record: RunRecord, owner: str, observer) -> RunFront:
    """The run as it was at its last checkpoint, on `backend` (ValueError if its text is gone)."""
    text = store.corpus(record.corpus_hash) if record.corpus_hash else None
    if text is None:
        raise ValueError(f"the text of run {record.run_id[:6]} is not in the store")
    mc, tc = ModelConfig.from_dict(record.model_config), TrainConfig.from_dict(record.train_config)
    ckpt = store.latest_checkpoint(record.run_id)
    common = dict(label=record.label, corpus_key=record.corpus_key, observer=observer, run_id=record.run_id)
    if hasattr(backend, "adopt"):                       # local: the exact trainer state
        run = backend.adopt(trainer_from(ckpt.data if ckpt else None, text, mc, tc), owner, **common)
        run.restore(Status.READY, record.message, record.target_step, record.running_seconds,
                    [Sample(**s) for s in store.samples(record.run_id)])
        return run
    kwargs = {}
    if ckpt is not None:    # either format: a local front's checkpoint holds the exact trainer state
        saved = trainer_from(ckpt.data, text, mc, tc)
        kwargs = {"vocab": saved.vocab, "state_dict": saved.model.state_dict(), "history": saved.history_rows()}
    return backend.make_run(mc, tc, text, owner, **common, **kwargs)


def trainer_from(data: bytes | None, text: str, mc: ModelConfig, tc: TrainConfig) -> Trainer:
    """A trainer from a store checkpoint: exact trainer state, else save_checkpoint's format
    (weights and history), else a fresh one (nothing saved, or unreadable: logged)."""
    if data is not None:
        try:
            return restore_trainer(data, text)
        except ResumeError:
            pass
        try:
            saved = read_checkpoint(data)
            return Trainer(mc, tc, text, vocab=saved["vocab"], state_dict=saved["state_dict"], history=saved["history"])
        except CheckpointError as e:
            log.error("run store: a checkpoint could not be read (%s); the run starts from step 0", e)
    return Trainer(mc, tc, text)


def continue_run(run: RunFront, record: RunRecord) -> None:
    """Give a rebuilt run its saved status: queued/running ones train on to their target,
    paused ones wait for Resume, the others are as they were (a lost one: stopped)."""
    saved, done = Status(record.status), run.steps_done
    if saved in (Status.QUEUED, Status.RUNNING) and record.target_step > done:
        run.start(record.target_step - done)
    elif isinstance(run, Run):
        ended = {Status.QUEUED: Status.FINISHED, Status.RUNNING: Status.FINISHED, Status.LOST: Status.STOPPED}
        saved = ended.get(saved, saved)
        run.restore(saved, record.message, record.target_step, record.running_seconds, run.samples)


def _state_bytes(state: dict, step: int) -> tuple[bytes, int]:
    return state_bytes(state), step


def _safely(read, default):
    try:
        return read()
    except (StoreError, Exception) as e:  # noqa: BLE001 - a failing store: the app goes on in memory
        log.warning("run store: reading failed: %s", e)
        return default
