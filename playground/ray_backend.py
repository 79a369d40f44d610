"""The Ray backend: every run trains in its own Ray actor (playground/ray_actor.py); Streamlit
keeps a proxy, `RayRun`, that implements the run front (playground/front.py) like the local
`Run` (control calls, incremental snapshots, a CPU copy of the weights, checkpoint bytes), so
pages never know where a run trains.

    PLAYGROUND_BACKEND=ray streamlit run app.py                        # a local Ray, started here
    PLAYGROUND_BACKEND=ray RAY_ADDRESS=head:6379 streamlit run app.py  # join a running cluster

`ray` is imported on the first run only (the local backend never loads it).

One actor per run (not a pool of actors each time-slicing many runs): Ray places and restarts
runs one by one, a crash takes one learner's run with it, not a pool's, and the operating
system shares a node's cores between the actors' processes (measured in benchmarks/
ray_backend.py: the same aggregate tokens/s as the in-process scheduler on the same cores).
Each actor asks for a fraction of a CPU (PLAYGROUND_RAY_CPUS_PER_RUN, default 0.25: four runs
per core before Ray makes further ones wait) and is spread over the nodes (SPREAD).

Actors are not detached: they live as long as the Streamlit process that created them. The
links' workspaces (which run belongs to which learner) live in that process; after a restart
nobody could reach a detached run any more, and it would train on, unseen, for up to the wall
time limit. Not detached, Ray frees them with the process.

Control calls are sent in order and not waited for; the next read is taken after them. The
lr is checked once, here (RayRun.set_lr), before it is sent.

Faults: when an actor dies, its run turns LOST with LOST_MESSAGE; the proxy (playground/
ray_run.py) keeps the last snapshot and the last checkpoint bytes it fetched (every
CHECKPOINT_EVERY steps and whenever the run stops training), and `restart()` starts a new
actor from them.

An observer (front.RunObserver) of a Ray run is told what the proxy fetches: rows and samples
at each snapshot or poll (the backend's watcher polls training runs every WATCH_SECONDS), a
status change when a read sees one.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time

from .config import ModelConfig, TrainConfig
from .front import ACTIVE, RunObserver, default_label
from .limits import Limits
from .ray_actor import RunActor, RunSpec
from .ray_run import LOST_MESSAGE, RayRun  # noqa: F401  (LOST_MESSAGE: what a lost run says)

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0       # s: for Ray to place a new actor and for it to build its trainer
WATCH_SECONDS = 10.0        # s: how often runs nobody is looking at are checked (lost? checkpoint?)


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
        active = sum(r.last_status in ACTIVE for r in list(self._runs.values()))
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
                 label: str = "", corpus_key: str = "", observer: RunObserver | None = None,
                 **trainer_kwargs) -> RayRun:
        """Start the run's actor and wait until it has built its trainer (ValueError if it cannot)."""
        self.connect()
        import ray
        if train_config.device == "cuda" and not ray.cluster_resources().get("GPU"):
            raise ValueError("device 'cuda' was chosen but the Ray cluster has no GPU")
        label = label or default_label(model_config)
        spec = RunSpec(model_config, train_config, ray.put(text), label, corpus_key, trainer_kwargs)
        actor, summary = self.spawn(spec)
        run = RayRun(self, spec, owner, actor, summary, observer)
        with self._lock:
            self._runs[run.run_id] = run
        run.poll()                                   # takes the first checkpoint (for a restart)
        return run

    def spawn(self, spec: RunSpec, checkpoint: bytes | None = None, samples: list | None = None):
        """A new actor for `spec` and its RunSummary; ValueError with the reason otherwise."""
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
        if isinstance(info, str):
            self.kill(actor)
            raise ValueError(info)
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
                    if run.last_status in ACTIVE:
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
