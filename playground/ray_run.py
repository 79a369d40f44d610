"""The proxy of a run that trains in a Ray actor: `RayRun` implements the run front
(playground/front.py) by sending control calls to its actor (playground/ray_actor.py) in order,
without waiting, and by fetching only what it lacks for a snapshot. It keeps the last snapshot and
the last checkpoint it fetched, so a LOST run (its pool died) is still drawn and can restart.
The backend that makes these (placing runs on trainer pools, the cluster) is
playground/ray_backend.py; `_actor` is a ray_pool.PooledRun (the run on its pool, addressed like
an actor of its own).

A run whose pool died while it trained is recovered by the backend's watcher (`recover()`): it
is placed on another pool from its newest checkpoint (the run store's or the proxy's) and trains
on to the step it was asked for; its message says what happened until the learner's next action.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import asdict, replace

from .config import ModelConfig, TrainConfig, check_lr
from .front import (ACTIVE, HistoryCache, RunObserver, RunSettings, RunState, RunSummary, Snapshot, Status,
                    wait_while_active)
from .ray_actor import RunDelta, RunSpec

log = logging.getLogger(__name__)

LOST_MESSAGE = "The worker running this run stopped: restart from the last checkpoint?"
RECOVERED = ("The trainer running this run stopped at step {lost:,}; the run was moved to another trainer "
             "and resumed from its last checkpoint (step {step:,}).")
# the whole cluster unreachable (ray_backend.Outage): every run is lost until it is back
OUTAGE_TRAINING = ("The Ray cluster cannot be reached (since {since} UTC): this run stopped at step {step:,} "
                   "and resumes by itself from its last checkpoint when the cluster is back.")
OUTAGE_IDLE = ("The Ray cluster cannot be reached (since {since} UTC): once it is back, Restart continues "
               "this run from its last checkpoint.")
OUTAGE_HELD = ("The Ray cluster could not be reached for {seconds:,.0f} s; its trainer kept this run, "
               "which trains on.")
OUTAGE_RECOVERED = ("The Ray cluster could not be reached for {seconds:,.0f} s from step {lost:,}; the run "
                    "resumed from its last checkpoint (step {step:,}) when the cluster was back.")
READ_TIMEOUT = 2.0          # s: a read that takes longer returns what the proxy last saw
WEIGHTS_TIMEOUT = 60.0      # s: a weight copy or checkpoint waits for at most one step
STATE_TTL = 0.05            # s: run.status, run.steps_done, ... within one page rerun share a read
CHECKPOINT_EVERY = 200      # steps between the checkpoints the proxy keeps for a restart
ACTOR_DIED = object()       # what ray_get returns when the actor is gone


def ray_get(ref, timeout: float, run_id: str):
    """ray.get; None when the actor is slow or the answer unreadable, ACTOR_DIED when it is gone."""
    import ray
    from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError
    try:
        return ray.get(ref, timeout=timeout)
    except (GetTimeoutError, ActorUnavailableError):
        log.warning("run %s: its actor did not answer within %.1f s", run_id[:6], timeout)
    except RayActorError:
        return ACTOR_DIED
    except ray.exceptions.RayError:       # e.g. an answer this process cannot unpickle
        log.exception("run %s: reading from its actor failed", run_id[:6])
    except SystemExit:                    # this process left Ray under the call (an outage: ray_backend.Outage)
        log.warning("run %s: Ray was shut down under a read", run_id[:6])
    return None


class Seen:
    """What a proxy has fetched of its run: history rows, samples, the rate; tells the observer
    what each fetch brought."""

    def __init__(self, run_id: str, observer: RunObserver | None):
        self.history, self.samples, self.steps_per_minute = HistoryCache(), [], 0.0
        self._run_id, self._observer = run_id, observer

    def merge(self, delta: RunDelta) -> None:
        self.history.merge(delta.start, delta.rows)
        self.samples.extend(delta.samples)
        self.steps_per_minute = delta.steps_per_minute
        if self._observer is not None:
            if delta.rows:
                self._observer.on_history(self._run_id, list(delta.rows))
            for sample in delta.samples:
                self._observer.on_sample(self._run_id, sample)


class KeptCheckpoint:
    """The last checkpoint fetched from a run's actor: what a restart starts from."""

    def __init__(self):
        self.data: bytes | None = None
        self.step = -1              # -1: none kept yet
        self._ref = None            # a fetch in flight

    def offer(self, data: bytes, step: int) -> None:
        if step >= self.step:
            self.data, self.step = data, step

    def forget_fetch(self) -> None:
        self._ref = None

    def keep_fresh(self, actor, state: RunState) -> None:
        """Collect a finished fetch; start one when due (every CHECKPOINT_EVERY steps, and when
        the run stopped training with newer steps). Never waits."""
        import ray
        if self._ref is not None:
            try:
                if not ray.wait([self._ref], timeout=0)[0]:
                    return
                ref, self._ref = self._ref, None
                self.offer(*ray.get(ref))
            except (ray.exceptions.RayError, SystemExit):   # SystemExit: Ray shut down under it (an outage)
                self._ref = None
                return
        idle = state.status not in ACTIVE
        if state.step - self.step >= CHECKPOINT_EVERY or (idle and state.step != self.step):
            self._ref = actor.checkpoint.options(concurrency_group="weights").remote()


class RayRun:
    """The run front of a run that trains in a Ray actor (see the module docstring)."""
    run_id: str
    owner: str
    label: str
    corpus_key: str
    model_config: ModelConfig
    train_config: TrainConfig
    settings: RunSettings
    can_restart = True                   # a lost run restarts from its last kept checkpoint

    def __init__(self, backend: "RayBackend", spec: RunSpec, owner: str, actor, summary: RunSummary,
                 observer: RunObserver | None = None, run_id: str | None = None):
        self.run_id, self.owner = run_id or secrets.token_urlsafe(16), owner
        self.label, self.corpus_key = spec.label, spec.corpus_key
        self.model_config, self.train_config = summary.model_config, summary.train_config
        self.settings, self.observer = RunSettings(), observer
        self.kept = KeptCheckpoint()
        self._backend, self._spec, self._summary = backend, spec, summary
        self._actor, self._lost, self._freed = actor, False, False
        self._lock = threading.RLock()      # rows, samples and checkpoint bookkeeping (held across reads)
        self._losing = threading.Lock()     # the lost flag and state: never held across a Ray call
        self._state = RunState(step=len(spec.trainer_kwargs.get("history") or []), lr=(lr := self.train_config.lr),
                               base_lr=lr)
        self._state_at, self._seen, self._val_text = 0.0, Seen(self.run_id, observer), {}
        self._before_loss: RunState | None = None    # the state when the pool died while training
        self._note, self._recovered = "", RECOVERED  # what happened (until the next action); a recovery's note

    # ---- reading state -------------------------------------------------------------------------
    node_id = property(lambda self: self._summary.extra.get("node_id", ""))
    pid = property(lambda self: self._summary.extra.get("pid"))     # the pool process training it
    placement = property(lambda self: getattr(self._actor, "pool_name", ""), doc="The pool that holds the run.")
    needs_recovery = property(lambda self: self._lost and self._before_loss is not None)
    last_status = property(lambda self: self._state.status, doc="As last seen, without asking the actor.")
    checkpoint_step = property(lambda self: self.kept.step, doc="The step a restart starts from (-1: none).")
    status = property(lambda self: self._read_state().status)
    message = property(lambda self: self._read_state().message or self._note)
    is_active = property(lambda self: self.status in ACTIVE)
    steps_done = property(lambda self: self._read_state().step)
    lr = property(lambda self: self._read_state().lr)
    base_lr = property(lambda self: self._read_state().base_lr, doc="The lr asked for, before annealing.")

    def _read_state(self) -> RunState:
        """The actor's state, read at most once per STATE_TTL; what was last seen when the actor
        does not answer in time; LOST once it is gone."""
        if self._lost or self._freed or time.monotonic() - self._state_at < STATE_TTL:
            return self._state
        fresh = self._get(self._actor.state.remote(), READ_TIMEOUT)
        if fresh is not None:
            self._observe(fresh)
        return self._state

    def _observe(self, state: RunState) -> None:
        with self._lock:
            if self._lost:           # a read that ended after the run was lost: LOST stands
                return
            old, self._state, self._state_at = self._state.status, state, time.monotonic()
            self.kept.keep_fresh(self._actor, state)
        if state.status != old and self.observer is not None:
            self.observer.on_status(self.run_id, state.status, state.step)

    def _get(self, ref, timeout: float):
        """ray_get; None (a dead actor makes the run lost) if there is no answer."""
        got = ray_get(ref, timeout, self.run_id)
        return self.mark_lost() if got is ACTOR_DIED else got

    def mark_lost(self, outage_since: str = "") -> None:
        """The run is LOST (returns None): its pool died, or (`outage_since`: a time of day) the cluster
        cannot be reached (said so also if its pool seemed to die first). Reads in flight not waited for."""
        with self._losing:
            if self._freed or (self._lost and not outage_since):
                return
            was, self._lost = (self._before_loss if self._lost else None) or self._state, True
            self._before_loss, self._recovered, self._state = lose(was, outage_since)
        log.error("run %s lost at step %d (last checkpoint: %d)", self.run_id[:6], self._state.step, self.kept.step)
        if self.observer is not None:
            self.observer.on_status(self.run_id, Status.LOST, self._state.step)

    # ---- control (sent in order, not waited for) ------------------------------------------------
    def _send(self, name: str, *args, **kwargs) -> None:
        self._note, self._before_loss = "", None  # the learner acted: a recovery note is old news
        if not (self._freed or self._lost):      # a lost run's actor is gone (or Ray is, in an outage)
            self._actor.call.remote(name, args, kwargs)
            self._state_at = 0.0                 # the next read is taken after this call

    def start(self, steps: int) -> None:
        """Train `steps` more steps (a lost run first restarts from its last checkpoint)."""
        if self._restarted_if_lost():
            self._send("start", int(steps))

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def step(self, n: int = 1) -> None:
        if self._restarted_if_lost():
            self._send("step", int(n))

    def _restarted_if_lost(self) -> bool:
        """False if the run is lost and a restart failed (the message then says why)."""
        try:
            if self._lost:
                self.restart()
            return True
        except ValueError as e:
            self._state = replace(self._state, message=f"{LOST_MESSAGE} (A restart failed: {e})")
            return False

    def stop(self, message: str = "") -> None:
        self._send("stop", message)

    def set_lr(self, lr: float) -> None:
        self._send("set_lr", check_lr(lr))

    def update_settings(self, **changes) -> None:
        self.settings = replace(self.settings, **changes)
        self._send("update_settings", **changes)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run is no longer active (polling its state); False on timeout."""
        return wait_while_active(self, timeout)

    def restart(self) -> None:
        """A new actor from the last checkpoint kept (from the start without one): status ready."""
        with self._lock:
            self._backend.release(self._actor)
            if (stored := self._backend.stored_checkpoint(self.run_id)) is not None:
                self.kept.offer(stored.data, stored.step)    # the run store's, if newer
            samples = [s for s in self._seen.samples if s.step <= max(self.kept.step, 0)]
            self._actor, self._summary = self._backend.spawn(self._spec, self.kept.data, samples, self.run_id)
            self._lost, self._state_at, self._seen = False, 0.0, Seen(self.run_id, self.observer)
            self.kept.forget_fetch()
        self._send("update_settings", **asdict(self.settings))
        log.info("run %s restarted from step %d on %s", self.run_id[:6], max(self.kept.step, 0), self.placement)

    # ---- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The rows and samples the proxy has, brought up to date with only the new ones."""
        with self._lock:
            self.poll()
            s, info = self._state, self._summary
            active, cpus = self._backend.sharing()
            return Snapshot(run_id=self.run_id, label=self.label, status=s.status, message=s.message or self._note,
                            step=s.step, target_step=s.target_step, lr=s.lr, history=self._seen.history.frame(),
                            samples=list(self._seen.samples), parameters=info.parameters, vocab_size=info.vocab_size,
                            uniform_perplexity=info.uniform_perplexity, unigram_perplexity=info.unigram_perplexity,
                            running_seconds=s.running_seconds, model_config=self.model_config,
                            train_config=self.train_config, corpus_key=self.corpus_key,
                            steps_per_minute=self._seen.steps_per_minute, share=min(1.0, cpus / max(active, 1)),
                            active_runs=active, workers=cpus, backend="ray",
                            outage=self._backend.outage.since is not None)

    def poll(self) -> None:
        """Fetch the state and the rows and samples after those the proxy has (a page's snapshot;
        the backend's watcher, for runs nobody views: notices a lost run, keeps the checkpoint)."""
        with self._lock:
            if not (self._lost or self._freed):
                ref = self._actor.snapshot_since.remote(len(self._seen.history.rows), len(self._seen.samples))
                if (delta := self._get(ref, READ_TIMEOUT)) is not None:
                    self._seen.merge(delta)
                    self._observe(delta.state)

    # ---- weights ------------------------------------------------------------------------------------
    def copy_model(self):
        """A CPU copy of the current weights, in eval mode (from the last checkpoint when lost)."""
        got = None
        if not (self._lost or self._freed):
            got = self._get(self._actor.copy_weights.options(concurrency_group="weights").remote(), WEIGHTS_TIMEOUT)
        return model_from(got, self.kept.data)

    def checkpoint_bytes(self) -> bytes:
        """A checkpoint of the run, taken between steps (the last one kept when lost)."""
        if not (self._lost or self._freed):
            got = self._get(self._actor.checkpoint.options(concurrency_group="weights").remote(), WEIGHTS_TIMEOUT)
            if got is not None:
                with self._lock:
                    self.kept.offer(*got)
                return got[0]
        if self.kept.data is None:
            raise ValueError("The worker running this run stopped before a checkpoint was kept.")
        return self.kept.data

    def val_text(self, n_chars: int = 300) -> str:
        if n_chars not in self._val_text and not (self._lost or self._freed):
            text = self._get(self._actor.val_text.remote(n_chars), READ_TIMEOUT)
            if text is not None:
                self._val_text[n_chars] = text
        return self._val_text.get(n_chars, "")

    def free(self) -> None:
        """Stop the run and end its actor (its CPU share goes back to the cluster)."""
        if self._freed:
            return
        self._freed = True
        if self._state.status in ACTIVE:
            self._state = replace(self._state, status=Status.STOPPED)
        self._backend.release(self._actor)
        self._backend.forget(self)


def recover(run: RayRun, seconds: float = 0.0) -> None:
    """Restart a run whose pool died while it trained on another pool, from its newest checkpoint,
    and train on to the step it was asked for (paused if it was paused); its message says so
    (`seconds`: how long the cluster could not be reached, after an outage)."""
    before = run._before_loss
    if before is None:
        return
    run.restart()
    run._send("start", max(1, before.target_step - run.steps_done))
    if before.status == Status.PAUSED:
        run._send("pause")
    run._note = run._recovered.format(lost=before.step, step=max(run.kept.step, 0), seconds=seconds)
    run._recovered = RECOVERED


def lose(state: RunState, outage_since: str) -> tuple[RunState | None, str, RunState]:
    """A run in `state` is lost: (the state a recovery trains on to, None if it was not training;
    the note its recovery will leave; its LOST state, whose message says its pool died, or that the
    cluster cannot be reached since `outage_since`, a time of day)."""
    before = state if state.status in ACTIVE else None
    if not outage_since:
        message, recovered = LOST_MESSAGE, RECOVERED
    else:
        message = (OUTAGE_TRAINING if before else OUTAGE_IDLE).format(since=outage_since, step=state.step)
        recovered = OUTAGE_RECOVERED
    return before, recovered, replace(state, status=Status.LOST, message=message)


def reattach(run: RayRun, actor, note: str) -> None:
    """After an outage, the pool that held `run` still does (the cluster lived on, e.g. a network
    outage): the proxy talks to it again through `actor` (a handle from the new Ray connection)."""
    with run._lock:
        run._actor, run._lost, run._before_loss, run._state_at = actor, False, None, 0.0
        run._recovered, run._note = RECOVERED, note
        run.kept.forget_fetch()


def model_from(got: tuple | None, kept: bytes | None) -> tuple:
    """(model in eval mode, vocab, model config) from copy_weights' answer, else from the kept
    checkpoint (ValueError without one)."""
    if got is None:
        from .checkpoint import load_checkpoint
        if kept is None:
            raise ValueError("The worker running this run stopped before a checkpoint was kept: start a new run.")
        return load_checkpoint(kept)
    from .models import CharModel
    weights, vocab, cfg = got
    model = CharModel(cfg)
    model.load_state_dict(weights)
    return model.eval(), vocab, cfg
