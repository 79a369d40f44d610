"""The Ray backend: every run trains in its own Ray actor; Streamlit keeps a proxy, `RayRun`,
with the same front as the local `Run` (control calls, incremental snapshots, a CPU copy of the
weights, checkpoint bytes), so pages never know where a run trains.

    PLAYGROUND_BACKEND=ray streamlit run app.py                        # a local Ray, started here
    PLAYGROUND_BACKEND=ray RAY_ADDRESS=head:6379 streamlit run app.py  # join a running cluster

`ray` is imported on the first run only (the local backend never loads it).

One actor per run (not a pool of actors each time-slicing many runs): Ray places and restarts
runs one by one, a crash takes one learner's run with it, not a pool's, and the operating
system shares a node's cores between the actors' processes (measured in benchmarks/
ray_backend.py: the same aggregate tokens/s as the in-process scheduler on the same cores).
Each actor asks for a fraction of a CPU (PLAYGROUND_RAY_CPUS_PER_RUN, default 0.25: four runs
per core before Ray makes further ones wait) and is spread over the nodes (SPREAD).

Inside, the actor holds a local `playground.runner.Run` on its own one-thread scheduler. It is a
threaded actor with two lanes (Ray concurrency groups):
    default, 1 thread, in submission order: control calls, state, snapshot_since. Each takes
        only the run's short status lock, so it is answered while a step computes on the
        scheduler's thread; control calls are sent without waiting for them (in order, so a
        read after a control call sees its effect).
    "weights", 2 threads: copy_weights, checkpoint. They wait for the end of the current step,
        and must not hold up the snapshots behind them.

Actors are not detached: they live as long as the Streamlit process that created them. The
links' workspaces (which run belongs to which learner) live in that process; after a restart
nobody could reach a detached run any more, and it would train on, unseen, for up to the wall
time limit. Not detached, Ray frees them with the process.

Faults: when an actor dies, its run turns "lost" with LOST_MESSAGE; the proxy keeps the last
snapshot and the last checkpoint bytes it fetched (every CHECKPOINT_EVERY steps and whenever
the run stops training), and `restart()` starts a new actor from them.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

from .config import ModelConfig, TrainConfig, check_lr
from .limits import Limits
from .scheduler import Scheduler
from .train import Trainer, history_frame

log = logging.getLogger(__name__)

LOST_MESSAGE = "The worker running this run stopped: restart from the last checkpoint?"
CONTROLS = frozenset({"start", "pause", "resume", "step", "stop", "set_lr", "update_settings"})
READ_TIMEOUT = 2.0          # s: a read that takes longer returns what the proxy last saw
WEIGHTS_TIMEOUT = 60.0      # s: a weight copy or checkpoint waits for at most one step
START_TIMEOUT = 120.0       # s: for Ray to place a new actor and for it to build its trainer
STATE_TTL = 0.05            # s: run.status, run.steps_done, ... within one page rerun share a read
CHECKPOINT_EVERY = 200      # steps between the checkpoints the proxy keeps for a restart
WATCH_SECONDS = 10.0        # s: how often runs nobody is looking at are checked (lost? checkpoint?)


# ---- the actor's side (runs in a Ray worker process) ------------------------------------------
class RunActor:
    """One run on an actor-local scheduler. Wrapped by `ray.remote` when the backend connects."""

    def __init__(self, model_config: ModelConfig, train_config: TrainConfig, text: str, limits: Limits,
                 label: str, corpus_key: str, trainer_kwargs: dict, checkpoint: bytes | None = None,
                 samples: list | None = None):
        self.run, self.error = None, ""
        sys.setswitchinterval(0.001)   # a read waits at most ~1 ms for the training thread's GIL (5 ms default)
        try:
            if checkpoint is not None:
                trainer_kwargs = _resume_kwargs(checkpoint)
            trainer = Trainer(model_config, train_config, text, **trainer_kwargs)
        except (ValueError, RuntimeError) as e:  # shown to the learner as "Could not start: ..."
            self.error = str(e)
            return
        self.run = Run(trainer, owner="", scheduler=Scheduler(max_workers=1), limits=limits,
                       label=label, corpus_key=corpus_key)
        self.run.samples = list(samples or [])
        self._lr_setter = ThreadPoolExecutor(max_workers=1)   # set_lr waits for the step: not in the lane
        self._lr_wanted: list[float] = []                      # sent, not yet applied (in order)

    def ready(self) -> dict:
        """What the proxy needs to know once, or {"error": message}."""
        if self.run is None:
            return {"error": self.error}
        import ray
        run, t = self.run, self.run.trainer
        return {"model_config": run.model_config, "train_config": run.train_config,
                "parameters": run._parameters, "vocab_size": len(t.vocab),
                "uniform_perplexity": t.uniform_perplexity, "unigram_perplexity": t.unigram_perplexity,
                "node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    def call(self, name: str, args: tuple = (), kwargs: dict | None = None) -> None:
        """A control call (start, pause, resume, step, stop, set_lr, update_settings)."""
        if name not in CONTROLS:
            raise ValueError(f"not a control call: {name}")
        if name == "set_lr":      # Run.set_lr waits for the current step: the reads behind it must not
            self._lr_wanted.append(check_lr(args[0]))
            self._lr_setter.submit(self._set_lr, args[0])
            return
        getattr(self.run, name)(*args, **(kwargs or {}))

    def _set_lr(self, lr: float) -> None:
        self.run.set_lr(lr)
        self._lr_wanted.pop(0)

    @property
    def lr(self) -> float:
        """The lr the next step uses: the last one sent, until it is applied."""
        wanted = self._lr_wanted[-1:]
        return wanted[0] if wanted else self.run.lr

    @property
    def base_lr(self) -> float:
        """The lr asked for, before annealing: the last one sent, until it is applied."""
        wanted = self._lr_wanted[-1:]
        return wanted[0] if wanted else self.run.base_lr

    def state(self) -> dict:
        run = self.run
        return {"status": run.status, "message": run.message, "steps_done": run.steps_done,
                "lr": self.lr, "base_lr": self.base_lr, "target_step": run.target_step, "running_seconds": run.running_seconds}

    def snapshot_since(self, n_rows: int, n_samples: int) -> dict:
        """The state and only what the proxy lacks: history rows from its last one on (re-read:
        validation loss is written onto it after the step) and samples after its last."""
        run = self.run
        state = self.state()
        total = run.trainer.steps_done
        reset = total < n_rows                                   # a divergence rolled rows back
        start = 0 if reset else max(0, n_rows - 1)
        return {"state": state, "reset": reset, "start": start,
                "rows": run.trainer.history_rows(start), "samples": list(run.samples[n_samples:]),
                "steps_per_minute": run.steps_per_minute()}

    def copy_weights(self) -> tuple[dict, object, ModelConfig]:
        """A CPU state_dict (taken between steps), the vocab and the model config."""
        model, vocab, cfg = self.run.copy_model()
        return model.state_dict(), vocab, cfg

    def checkpoint(self) -> tuple[bytes, int]:
        """Checkpoint bytes and the step they were taken at (between steps)."""
        from .checkpoint import save_checkpoint
        with self.run._lock:
            return save_checkpoint(self.run.trainer), self.run.trainer.steps_done

    def val_text(self, n_chars: int) -> str:
        return self.run.val_text(n_chars)


def _resume_kwargs(checkpoint: bytes) -> dict:
    from .checkpoint import read_checkpoint
    ckpt = read_checkpoint(checkpoint)
    return {"vocab": ckpt["vocab"], "state_dict": ckpt["state_dict"], "history": ckpt["history"]}


# ---- the Streamlit side ---------------------------------------------------------------------
@dataclass
class RunSpec:
    """What it takes to build the run's actor again (restart)."""
    model_config: ModelConfig
    train_config: TrainConfig
    text_ref: object            # ray.ObjectRef of the training text (put once)
    label: str
    corpus_key: str
    trainer_kwargs: dict = field(default_factory=dict)


class RayRun:
    """The run front of a run that trains in a Ray actor (see the module docstring)."""

    def __init__(self, backend: "RayBackend", spec: RunSpec, owner: str, actor, info: dict):
        self.run_id = secrets.token_urlsafe(16)
        self.owner, self.label, self.corpus_key = owner, spec.label, spec.corpus_key
        self.model_config, self.train_config = info["model_config"], info["train_config"]
        self.settings = RunSettings()
        self._backend, self._spec, self._info = backend, spec, info
        self._actor, self._lost, self._freed = actor, False, False
        self._lock = threading.RLock()      # rows, samples and checkpoint bookkeeping
        self._state = {"status": "ready", "message": "", "steps_done": len(spec.trainer_kwargs.get("history") or []),
                       "lr": self.train_config.lr, "base_lr": self.train_config.lr, "target_step": 0, "running_seconds": 0.0}
        self._state_at = 0.0
        self._rows: list[dict] = []
        self._samples: list = []
        self._steps_per_minute = 0.0
        self._val_text: dict[int, str] = {}
        self._checkpoint: bytes | None = None
        self._checkpoint_step = -1
        self._checkpoint_ref = None

    # ---- reading state ---------------------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self._info.get("node_id", "")

    @property
    def status(self) -> str:
        return self._read_state()["status"]

    @property
    def message(self) -> str:
        return self._read_state()["message"]

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def steps_done(self) -> int:
        return self._read_state()["steps_done"]

    @property
    def lr(self) -> float:
        return self._read_state()["lr"]

    @property
    def base_lr(self) -> float:
        """The lr asked for, before annealing (see Run.base_lr)."""
        return self._read_state().get("base_lr", self.lr)

    def _read_state(self) -> dict:
        """The actor's state, read at most once per STATE_TTL; what was last seen when the actor
        does not answer in time; status "lost" once it is gone."""
        if self._lost or self._freed or time.monotonic() - self._state_at < STATE_TTL:
            return self._state
        fresh = self._get(self._actor.state.remote(), READ_TIMEOUT)
        if fresh is not None:
            self._observe(fresh)
        return self._state

    def _observe(self, state: dict) -> None:
        with self._lock:
            self._state, self._state_at = state, time.monotonic()
            self._keep_checkpoint(state)

    def _get(self, ref, timeout: float):
        """ray.get, or None: a dead actor makes the run lost; a slow one is waited for no longer."""
        import ray
        from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError
        try:
            return ray.get(ref, timeout=timeout)
        except (GetTimeoutError, ActorUnavailableError):
            log.warning("run %s: its actor did not answer within %.1f s", self.run_id[:6], timeout)
            return None
        except RayActorError:
            self._mark_lost()
            return None
        except ray.exceptions.RayError:       # e.g. an answer this process cannot unpickle
            log.exception("run %s: reading from its actor failed", self.run_id[:6])
            return None

    def _mark_lost(self) -> None:
        with self._lock:
            if self._lost or self._freed:
                return
            self._lost = True
            self._state = {**self._state, "status": "lost", "message": LOST_MESSAGE}
        log.error("run %s: its Ray actor died at step %d; the last checkpoint is from step %d",
                  self.run_id[:6], self._state["steps_done"], self._checkpoint_step)

    # ---- control (sent in order, not waited for) ------------------------------------------------
    def _send(self, name: str, *args, **kwargs) -> None:
        if self._freed:
            return
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
        if not self._lost:
            return True
        try:
            self.restart()
            return True
        except ValueError as e:
            self._state = {**self._state, "message": f"{LOST_MESSAGE} (A restart failed: {e})"}
            return False

    step_once = step

    def stop(self, message: str = "") -> None:
        self._send("stop", message)

    def set_lr(self, lr: float) -> None:
        self._send("set_lr", check_lr(lr))
        with self._lock:  # seen at once by the page, before the next state read
            self._state = {**self._state, "lr": float(lr), "base_lr": float(lr)}

    def update_settings(self, **changes) -> None:
        self.settings = replace(self.settings, **changes)
        self._send("update_settings", **changes)

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the run is no longer active (polling its state); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_active:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    # ---- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The rows and samples the proxy has, brought up to date with only the new ones."""
        with self._lock:
            self._refresh()
            return self._compose()

    def _refresh(self) -> None:
        """Under _lock: fetch the state and the rows and samples after those the proxy has."""
        if not (self._lost or self._freed):
            part = self._get(self._actor.snapshot_since.remote(len(self._rows), len(self._samples)), READ_TIMEOUT)
            if part is not None:
                self._merge(part)

    def _merge(self, part: dict) -> None:
        if part["reset"]:
            self._rows = []
        self._rows[part["start"]:] = part["rows"]
        self._samples.extend(part["samples"])
        self._steps_per_minute = part["steps_per_minute"]
        self._observe(part["state"])

    def _compose(self) -> Snapshot:
        s, info = self._state, self._info
        active, cpus = self._backend.sharing()
        return Snapshot(run_id=self.run_id, label=self.label, status=s["status"], message=s["message"],
                        step=s["steps_done"], target_step=s["target_step"], lr=s["lr"],
                        history=history_frame(self._rows), samples=list(self._samples),
                        parameters=info["parameters"], vocab_size=info["vocab_size"],
                        uniform_perplexity=info["uniform_perplexity"],
                        unigram_perplexity=info["unigram_perplexity"], running_seconds=s["running_seconds"],
                        model_config=self.model_config, train_config=self.train_config,
                        corpus_key=self.corpus_key, steps_per_minute=self._steps_per_minute,
                        share=min(1.0, cpus / max(active, 1)), active_runs=active, workers=cpus,
                        backend="ray")

    # ---- checkpoints kept for a restart ---------------------------------------------------------
    def _keep_checkpoint(self, state: dict) -> None:
        """Under _lock: collect a finished checkpoint fetch; start one when it is due (every
        CHECKPOINT_EVERY steps, and when the run stopped training with newer steps)."""
        import ray
        if self._checkpoint_ref is not None:
            done, _ = ray.wait([self._checkpoint_ref], timeout=0)
            if not done:
                return
            ref, self._checkpoint_ref = self._checkpoint_ref, None
            try:
                self._checkpoint, self._checkpoint_step = ray.get(ref)
            except ray.exceptions.RayError:
                return
        steps = state["steps_done"]
        idle = state["status"] not in ACTIVE
        if steps - self._checkpoint_step >= CHECKPOINT_EVERY or (idle and steps != self._checkpoint_step):
            self._checkpoint_ref = self._actor.checkpoint.options(concurrency_group="weights").remote()

    def poll(self) -> None:
        """Bring state, rows and samples up to date now (the backend's watcher, for runs nobody
        is viewing: notices a lost run, keeps the checkpoint and the last snapshot fresh)."""
        with self._lock:
            self._refresh()

    @property
    def checkpoint_step(self) -> int:
        """The step of the checkpoint a restart would start from (-1: none kept yet)."""
        return self._checkpoint_step

    def restart(self) -> None:
        """A new actor from the last checkpoint kept (from the start without one): status ready."""
        with self._lock:
            self._backend.kill(self._actor)
            samples = [s for s in self._samples if s.step <= max(self._checkpoint_step, 0)]
            self._actor, self._info = self._backend.spawn(self._spec, self._checkpoint, samples)
            self._lost = False
            self._rows, self._samples, self._state_at = [], [], 0.0
            self._checkpoint_ref = None
        self._send("update_settings", **asdict(self.settings))
        log.info("run %s restarted from step %d on node %s", self.run_id[:6], max(self._checkpoint_step, 0),
                 self.node_id[:8])

    # ---- weights ------------------------------------------------------------------------------------
    def copy_model(self):
        """A CPU copy of the current weights, in eval mode (from the last checkpoint when lost)."""
        from .models import CharModel
        got = None
        if not (self._lost or self._freed):
            ref = self._actor.copy_weights.options(concurrency_group="weights").remote()
            got = self._get(ref, WEIGHTS_TIMEOUT)
        if got is None:
            return self._checkpoint_model()
        weights, vocab, cfg = got
        model = CharModel(cfg)
        model.load_state_dict(weights)
        return model.eval(), vocab, cfg

    def _checkpoint_model(self):
        from .checkpoint import load_checkpoint
        if self._checkpoint is None:
            raise ValueError("The worker running this run stopped before a checkpoint was kept: "
                             "start a new run.")
        return load_checkpoint(self._checkpoint)

    def checkpoint_bytes(self) -> bytes:
        """A checkpoint of the run, taken between steps (the last one kept when lost)."""
        if not (self._lost or self._freed):
            got = self._get(self._actor.checkpoint.options(concurrency_group="weights").remote(), WEIGHTS_TIMEOUT)
            if got is not None:
                with self._lock:
                    if got[1] >= self._checkpoint_step:
                        self._checkpoint, self._checkpoint_step = got
                return got[0]
        if self._checkpoint is None:
            raise ValueError("The worker running this run stopped before a checkpoint was kept.")
        return self._checkpoint

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
        self._state = {**self._state, "status": "stopped" if self.is_active else self._state["status"]}
        self._backend.kill(self._actor)
        self._backend.forget(self)


class RayBackend:
    """Makes `RayRun`s: connects to Ray on first use (RAY_ADDRESS, else a local Ray)."""
    name = "ray"

    def __init__(self, limits: Limits, env: dict | None = None):
        env = os.environ if env is None else env
        self.limits = limits
        self.address = env.get("RAY_ADDRESS", "").strip() or None
        self.cpus_per_run = _positive(env.get("PLAYGROUND_RAY_CPUS_PER_RUN"), 0.25)
        self._actor_class = None
        self._runs: dict[str, RayRun] = {}
        self._lock = threading.Lock()
        self._cpus, self._cpus_at = 1, 0.0

    # ---- the cluster --------------------------------------------------------------------------
    def connect(self) -> None:
        """Join RAY_ADDRESS's cluster, or start a local Ray; ValueError with a clear message if
        that fails (the page shows it; the server log has it too)."""
        with self._lock:
            if self._actor_class is not None:
                return
            try:
                import ray
            except ImportError:
                raise ValueError("PLAYGROUND_BACKEND=ray needs the ray package: "
                                 "pip install -r requirements-ray.txt") from None
            if self.address and (why := unreachable(self.address)) is not None:
                raise self._cannot_reach(why)
            if not ray.is_initialized():
                self._init(ray)
            self._actor_class = ray.remote(concurrency_groups={"weights": 2})(RunActor)
            threading.Thread(target=self._watch, name="ray-run-watcher", daemon=True).start()
            log.info("Ray backend: %s, %g CPUs; each run asks for %g CPU",
                     f"cluster at {self.address}" if self.address else "a local Ray", self.cluster_cpus(),
                     self.cpus_per_run)

    def _init(self, ray) -> None:
        if self.address is None:
            ray.init(address="local", num_cpus=self.limits.max_concurrent, include_dashboard=False)
            return
        try:
            ray.init(address=self.address, runtime_env=_runtime_env())
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ...: one message
            raise self._cannot_reach(f"{type(e).__name__}: {e}") from None

    def _cannot_reach(self, why: str) -> ValueError:
        """The one message for the page (ValueError) and the server log: no silent fallback."""
        message = (f"the Ray cluster at RAY_ADDRESS={self.address} cannot be reached ({why}). "
                   "Start it (ray start --head) or fix RAY_ADDRESS, then press Start again.")
        log.error("Ray backend: %s", message)
        return ValueError(message)

    def cluster_cpus(self) -> int:
        """CPUs the cluster has (read at most every 30 s)."""
        import ray
        if time.monotonic() - self._cpus_at > 30:
            self._cpus, self._cpus_at = int(ray.cluster_resources().get("CPU", 1)), time.monotonic()
        return self._cpus

    def sharing(self) -> tuple[int, int]:
        """(runs training now, CPUs of the cluster), from what the proxies last saw."""
        active = sum(r._state["status"] in ACTIVE for r in list(self._runs.values()))
        return active, self.cluster_cpus()

    def actor_options(self, train_config: TrainConfig) -> dict:
        """Ray options of a run's actor: a share of a CPU, spread over the nodes, one GPU for cuda."""
        options = {"num_cpus": self.cpus_per_run, "scheduling_strategy": "SPREAD", "max_restarts": 0,
                   "runtime_env": {"env_vars": {"PLAYGROUND_BACKEND": "local"}}}   # inside, the run is local
        if train_config.device == "cuda":
            options["num_gpus"] = 1
        return options

    # ---- runs ------------------------------------------------------------------------------------
    def make_run(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
                 label: str = "", corpus_key: str = "", **trainer_kwargs) -> RayRun:
        """Start the run's actor and wait until it has built its trainer (ValueError if it cannot)."""
        self.connect()
        import ray
        if train_config.device == "cuda" and not ray.cluster_resources().get("GPU"):
            raise ValueError("device 'cuda' was chosen but the Ray cluster has no GPU")
        label = label or f"{model_config.cell} h{model_config.hidden_size}"
        spec = RunSpec(model_config, train_config, ray.put(text), label, corpus_key, trainer_kwargs)
        actor, info = self.spawn(spec)
        run = RayRun(self, spec, owner, actor, info)
        with self._lock:
            self._runs[run.run_id] = run
        run.poll()                                   # takes the first checkpoint (for a restart)
        return run

    def spawn(self, spec: RunSpec, checkpoint: bytes | None = None, samples: list | None = None):
        """A new actor for `spec` and its ready() info; ValueError with the reason otherwise."""
        import ray
        actor = self._actor_class.options(**self.actor_options(spec.train_config)).remote(
            spec.model_config, spec.train_config, spec.text_ref, self.limits, spec.label, spec.corpus_key,
            spec.trainer_kwargs, checkpoint, samples)
        try:
            info = ray.get(actor.ready.remote(), timeout=START_TIMEOUT)
        except ray.exceptions.GetTimeoutError:
            self.kill(actor)
            raise ValueError(f"the Ray cluster did not start a worker for this run within {START_TIMEOUT:g} s: "
                             f"it may be full (each run asks for {self.cpus_per_run:g} CPU)") from None
        except ray.exceptions.RayError as e:
            self.kill(actor)
            log.error("Ray backend: a run's actor failed to start: %s", e)
            raise ValueError(f"the Ray worker for this run failed to start ({type(e).__name__})") from None
        if info.get("error"):
            self.kill(actor)
            raise ValueError(info["error"])
        return actor, info

    def kill(self, actor) -> None:
        import ray
        try:
            ray.kill(actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def forget(self, run: RayRun) -> None:
        with self._lock:
            self._runs.pop(run.run_id, None)

    def _watch(self) -> None:
        """Every WATCH_SECONDS: poll runs that train (lost? checkpoint due?), viewed or not."""
        while True:
            time.sleep(WATCH_SECONDS)
            for run in list(self._runs.values()):
                try:
                    if run._state["status"] in ACTIVE:
                        run.poll()
                except Exception:  # noqa: BLE001 - the watcher must survive anything
                    log.exception("Ray backend: polling run %s failed", run.run_id[:6])


def unreachable(address: str, timeout: float = 3.0) -> str | None:
    """Why host:port cannot be connected to (None if it can; other address forms are left to Ray)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not port.isdigit():
        return None
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
        return None
    except OSError as e:
        return f"nothing answers at {host}:{port}: {e.strerror or e}"


def _runtime_env() -> dict:
    """Ship the playground package to the cluster's workers (they need only Python and torch)."""
    from pathlib import Path
    return {"py_modules": [str(Path(__file__).resolve().parent)]}


def _positive(raw, default: float) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return default
    return value if value > 0 else default


# At the end: runner imports this module when PLAYGROUND_BACKEND=ray, and a Ray worker imports this
# module first (to rebuild RunActor), so everything runner asks for must be defined by then.
from .runner import ACTIVE, Run, RunSettings, Snapshot  # noqa: E402
