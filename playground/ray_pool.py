"""Pooled trainer actors for the Ray backend: a few long-lived `TrainerPool` actors per node,
each training MANY runs in turns on its own playground.scheduler.Scheduler (the same fair
0.25 s time slices as the local backend), so a run costs its tensors, not a process, and
Start is a placement (`add_run`) on a warm actor, not a process launch.

    pools = Pools(namespace="rnn-playground", cpus_per_pool=1.0)
    pools.ensure()                        # one pool per `cpus_per_pool` CPUs of every alive node,
                                          # one per GPU on GPU nodes (detached, named, idempotent)
    name, pool = pools.pick(train_config) # the least-loaded warm pool (a GPU pool for cuda)
    handle = PooledRun(pool, name, run_id)  # looks like a per-run actor to the proxy (ray_run.py)

Pools are detached and named (`trainer-<node id[:8]>-<i>`, `trainer-<node id[:8]>-gpu<i>`) in a
namespace, so any front finds one with `ray.get_actor(name, namespace=...)` and a front's
restart stops nothing. Which pool holds a run (its placement) is in the run store.

The actor is threaded with two lanes (Ray concurrency groups), as a per-run actor was:
    default, 1 thread, in submission order: add_run, remove_run, control calls, state,
        snapshot_since, load. Each takes only a run's short status lock, so it is answered
        while steps compute on the scheduler's threads; calls from one proxy run in order.
    "weights", 2 threads: copy_weights, checkpoint (they wait for the end of the run's step).
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace

from .config import ModelConfig, TrainConfig
from .front import ACTIVE, RunState, RunSummary, Sample, read_from
from .limits import Limits
from .ray_actor import CONTROLS, RunDelta, resume_kwargs
from .run import Run
from .scheduler import Scheduler
from .train import Trainer, warm_up

log = logging.getLogger(__name__)

NAMESPACE = "rnn-playground"
POOL_METHODS = frozenset({"ready", "call", "state", "snapshot_since", "copy_weights", "checkpoint", "val_text"})


@dataclass(frozen=True)
class PoolLoad:
    """What a pool reports of itself (placement picks the least loaded)."""
    name: str
    node_id: str
    pid: int
    workers: int                # scheduler threads (its CPUs)
    gpus: float
    runs: int                   # runs it holds
    active: int                 # of which queued, running or paused
    rss_bytes: int              # its process's resident memory

    @property
    def pressure(self) -> float:
        """Active runs per worker thread, then runs held (ties)."""
        return self.active / max(self.workers, 1) + self.runs * 1e-3


class TrainerPool:
    """Many local Runs on one actor-local scheduler. Wrapped by `ray.remote` (see Pools)."""

    def __init__(self, name: str, workers: int, gpus: float = 0.0):
        sys.setswitchinterval(0.001)   # a read waits at most ~1 ms for a training thread's GIL
        self.name, self.gpus = name, gpus
        self.scheduler = Scheduler(max_workers=max(1, int(workers)))
        self.runs: dict[str, Run] = {}
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()
        warm_up()                      # torch's one-time imports now, not in the first add_run

    def add_run(self, run_id: str, model_config: ModelConfig, train_config: TrainConfig, text: str,
                limits: Limits, label: str, corpus_key: str, trainer_kwargs: dict,
                checkpoint: bytes | None = None, samples: list[Sample] | None = None) -> RunSummary | str:
        """Build the run (from `checkpoint` if given); its RunSummary, or why it could not be built."""
        try:
            if checkpoint is not None:
                trainer_kwargs = resume_kwargs(checkpoint)
            trainer = Trainer(model_config, train_config, text, **trainer_kwargs)
        except (ValueError, RuntimeError) as e:  # shown to the learner as "Could not start: ..."
            return str(e)
        run = Run(trainer, owner="", scheduler=self.scheduler, limits=limits, label=label, corpus_key=corpus_key)
        for sample in samples or []:
            run.add_sample(sample)
        with self._lock:
            old, self.runs[run_id] = self.runs.get(run_id), run
        if old is not None:
            old.free()
        return self.ready(run_id)

    def remove_run(self, run_id: str) -> None:
        """Stop the run and drop it (its memory goes with it)."""
        with self._lock:
            run = self.runs.pop(run_id, None)
        if run is not None:
            run.free()

    def has_run(self, run_id: str) -> bool:
        return run_id in self.runs

    def ready(self, run_id: str) -> RunSummary:
        import ray
        run = self.runs[run_id]
        return replace(run.summary, extra={"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                                           "pool": self.name, "label": run.label, "corpus_key": run.corpus_key})

    def call(self, run_id: str, name: str, args: tuple = (), kwargs: dict | None = None) -> None:
        """A control call (start, pause, resume, step, stop, set_lr, update_settings)."""
        if name not in CONTROLS:
            raise ValueError(f"not a control call: {name}")
        getattr(self.runs[run_id], name)(*args, **(kwargs or {}))

    def state(self, run_id: str) -> RunState:
        return self.runs[run_id].state()

    def snapshot_since(self, run_id: str, n_rows: int, n_samples: int) -> RunDelta:
        """The state and only what the proxy lacks (rows from its last one on, newer samples)."""
        run = self.runs[run_id]
        state = run.state()
        start = read_from(n_rows, state.step)
        return RunDelta(state, start, run.trainer.rows(start), list(run.samples[n_samples:]), run.steps_per_minute())

    def copy_weights(self, run_id: str) -> tuple[dict, object, ModelConfig]:
        model, vocab, cfg = self.runs[run_id].copy_model()
        return model.state_dict(), vocab, cfg

    def checkpoint(self, run_id: str) -> tuple[bytes, int]:
        return self.runs[run_id].checkpoint()

    def val_text(self, run_id: str, n_chars: int) -> str:
        return self.runs[run_id].val_text(n_chars)

    def load(self) -> PoolLoad:
        import ray
        runs = list(self.runs.values())
        return PoolLoad(self.name, ray.get_runtime_context().get_node_id(), os.getpid(), self.scheduler.max_workers,
                        self.gpus, len(runs), sum(r.status in ACTIVE for r in runs), rss_bytes())


class PoolMethod:
    """`handle.state.remote()` -> `pool.state.remote(run_id)` (options pass through)."""

    def __init__(self, pool, method: str, run_id: str, options: dict | None = None):
        self.pool, self.method, self.run_id, self.opts = pool, method, run_id, options or {}

    def options(self, **options) -> "PoolMethod":
        return PoolMethod(self.pool, self.method, self.run_id, options)

    def remote(self, *args):
        bound = getattr(self.pool, self.method)
        return (bound.options(**self.opts) if self.opts else bound).remote(self.run_id, *args)


class PooledRun:
    """A run on a pool, addressed like a per-run actor by the proxy (RayRun)."""

    def __init__(self, pool, pool_name: str, run_id: str):
        self.pool, self.pool_name, self.run_id = pool, pool_name, run_id

    def __getattr__(self, method: str) -> PoolMethod:
        if method not in POOL_METHODS:
            raise AttributeError(method)
        return PoolMethod(self.pool, method, self.run_id)

    def remove(self) -> None:
        """Drop the run from its pool (not waited for; a dead pool has nothing to drop)."""
        try:
            self.pool.remove_run.remote(self.run_id)
        except Exception:  # noqa: BLE001 - the pool is gone
            pass


@dataclass(frozen=True)
class PoolSlot:
    """A pool the cluster should have."""
    name: str
    node_id: str
    num_cpus: float
    num_gpus: float = 0.0


def pool_plan(nodes: list[dict], cpus_per_pool: float = 1.0) -> list[PoolSlot]:
    """Pools for the alive nodes of `ray.nodes()`: one per GPU (with one CPU each, if there are
    enough), then one per `cpus_per_pool` of the CPUs left (at least one per node with a CPU)."""
    slots = []
    for node in nodes:
        if not node.get("Alive"):
            continue
        node_id, res = node["NodeID"], node.get("Resources", {})
        cpus, gpus = float(res.get("CPU", 0)), int(res.get("GPU", 0))
        gpu_cpus = 1.0 if cpus >= gpus + 1 else 0.0
        for i in range(gpus):
            slots.append(PoolSlot(f"trainer-{node_id[:8]}-gpu{i}", node_id, gpu_cpus, 1.0))
        left = cpus - gpus * gpu_cpus
        n = int(left // cpus_per_pool) if left >= cpus_per_pool else (1 if left > 0 and not gpus else 0)
        for i in range(n):
            slots.append(PoolSlot(f"trainer-{node_id[:8]}-{i}", node_id, min(cpus_per_pool, left)))
    return slots


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class Pools:
    """The cluster's trainer pools as one front sees them: made to the plan (idempotent across
    fronts: detached, named, get_if_exists), pinged for their load, picked for a new run."""

    def __init__(self, namespace: str = NAMESPACE, cpus_per_pool: float = 1.0, env_vars: dict | None = None):
        self.namespace, self.cpus_per_pool = namespace, cpus_per_pool
        self.env_vars = env_vars or {}
        self.handles: dict[str, object] = {}
        self.loads: dict[str, PoolLoad] = {}
        self._lock = threading.RLock()
        self._actor_class = None
        self._warm = False              # every planned pool answered once
        self._placed: Counter = Counter()   # runs placed on each pool by this front, ever

    def _class(self):
        if self._actor_class is None:
            import ray
            self._actor_class = ray.remote(concurrency_groups={"weights": 2})(TrainerPool)
        return self._actor_class

    def ensure(self) -> list[str]:
        """Create the pools the plan has and this front does not know (re-using any another front
        made); their names."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
        made = []
        with self._lock:
            for slot in pool_plan(ray.nodes(), self.cpus_per_pool):
                if slot.name in self.handles:
                    continue
                self.handles[slot.name] = self._class().options(
                    name=slot.name, namespace=self.namespace, lifetime="detached", get_if_exists=True,
                    num_cpus=slot.num_cpus, num_gpus=slot.num_gpus, max_restarts=0, max_concurrency=1,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node_id, soft=False),
                    runtime_env={"env_vars": dict(self.env_vars, PLAYGROUND_BACKEND="local")},
                ).remote(slot.name, max(1, round(slot.num_cpus)), slot.num_gpus)
                made.append(slot.name)
        return made

    def refresh(self, timeout: float = 2.0) -> set[str]:
        """Ask every pool for its load; the names of those that died (forgotten here: ensure()
        makes their slot again if their node is still alive)."""
        import ray
        from ray.exceptions import RayActorError
        with self._lock:
            refs = {name: handle.load.remote() for name, handle in self.handles.items()}
            placed = dict(self._placed)        # their add_run calls went before these loads
        done, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=timeout) if refs else ([], [])
        dead = set()
        for name, ref in refs.items():
            if ref not in done:
                continue                       # slow to answer (busy): keep its last load
            try:
                load = ray.get(ref)
                with self._lock:               # runs placed since the load was asked are not in it
                    late = self._placed[name] - placed.get(name, 0)
                    self.loads[name] = replace(load, runs=load.runs + late, active=load.active + late)
            except RayActorError:
                dead.add(name)
            except ray.exceptions.RayError as e:
                log.warning("trainer pool %s: no load (%s)", name, type(e).__name__)
        with self._lock:
            for name in dead:
                self.handles.pop(name, None)
                self.loads.pop(name, None)
        if dead:
            log.error("Ray backend: trainer pool(s) %s died", ", ".join(sorted(dead)))
        return dead

    def place(self, train_config: TrainConfig, avoid: frozenset, submit):
        """pick() and `submit(handle)` (a pool's add_run.remote) under one lock, so a refresh
        counts the run either in the pool's answer or as placed after it: (name, handle, what
        submit returned)."""
        with self._lock:
            name, handle = self.pick(train_config, avoid)
            return name, handle, submit(handle)

    def pick(self, train_config: TrainConfig, avoid: frozenset = frozenset()):
        """(name, handle) of the least-loaded warm pool that fits (a GPU pool for cuda)."""
        gpu = train_config.device == "cuda"
        with self._lock:
            warm = [n for n in self.handles if n in self.loads]
            kind = [n for n in warm if (self.loads[n].gpus > 0) == gpu]     # GPU pools for cuda runs only
            fits = [n for n in kind if n not in avoid] or kind or ([] if gpu else warm)
            if not fits:
                raise ValueError("the Ray cluster has no trainer pool with a GPU" if gpu else
                                 "the Ray cluster has no trainer pool yet: try Start again in a few seconds")
            name = min(fits, key=lambda n: self.loads[n].pressure)
            load = self.loads[name]              # count this run until the next refresh
            self.loads[name] = replace(load, runs=load.runs + 1, active=load.active + 1)
            self._placed[name] += 1
            return name, self.handles[name]

    def find(self, name: str):
        """The pool named `name` (made by any front), or None."""
        import ray
        with self._lock:
            if name in self.handles:
                return self.handles[name]
        try:
            return ray.get_actor(name, namespace=self.namespace)
        except ValueError:
            return None

    def holding(self, name: str, run_id: str):
        """The pool named `name` if it holds run `run_id` (None: no such pool, it does not, or it
        did not answer within 10 s)."""
        import ray
        pool = self.find(name) if name else None
        try:
            return pool if pool is not None and ray.get(pool.has_run.remote(run_id), timeout=10) else None
        except ray.exceptions.RayError:
            return None

    def wait_warm(self, timeout: float) -> bool:
        """Wait until the pools answer: the first time, every planned pool (so that the first runs
        spread over them), at most `timeout` s; afterwards one is enough (a pool that cannot be
        scheduled must not hold up every Start)."""
        if self._warm and self.loads:
            return True      # the backend's watcher follows the nodes (ensure) and the loads (refresh)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.ensure()
            with self._lock:
                cold = [n for n in self.handles if n not in self.loads]
            if self.loads and (self._warm or not cold):
                break
            self.refresh(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
        self._warm = self._warm or bool(self.loads)
        return bool(self.loads)

    def workers(self) -> int:
        return sum(load.workers for load in list(self.loads.values())) or 1
