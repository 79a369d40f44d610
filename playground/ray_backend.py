"""The Ray backend: runs train on pooled trainer actors (playground/ray_pool.py: a few
long-lived `TrainerPool` actors per node, each training many runs in turns on its own fair
scheduler); Streamlit keeps a proxy per run, `RayRun` (playground/ray_run.py), that implements
the run front (playground/front.py) like the local `Run`, so pages never know where a run trains.

    PLAYGROUND_BACKEND=ray streamlit run app.py                        # a local Ray, started here
    PLAYGROUND_BACKEND=ray RAY_ADDRESS=head:6379 streamlit run app.py  # join a running cluster

`ray` is imported on the first run only (the local backend never loads it).

Pools: one per PLAYGROUND_RAY_CPUS_PER_POOL CPUs (default 1) of every alive node, one per GPU on
GPU nodes (a cuda run lands on one), detached and named in the PLAYGROUND_RAY_NAMESPACE namespace
(default "rnn-playground"), so they outlive any front and every front uses the same ones. Start
is a placement: the least-loaded warm pool builds the run (`add_run`); no process starts. The
watcher pings the pools every PING_SECONDS, follows the cluster's nodes every PLAN_SECONDS (new
nodes get pools) and recovers the runs of a pool that died: each is placed on another pool from
its newest checkpoint (the run store's, else the proxy's) and trains on; its message says so.

Placement (run id -> pool name) is written to the run store's `placement` column when a store
is set (`backend.store = RunStore`), so a front started later finds a run by its id and pool
(`find`) with `ray.get_actor(name, namespace=...)`. A front's restart stops nothing.

Control calls are sent in order and not waited for; the next read is taken after them. The lr is
checked once, here (RayRun.set_lr), before it is sent.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

from .config import ModelConfig, TrainConfig
from .front import ACTIVE, RunObserver, default_label
from .limits import Limits
from .ray_actor import RunSpec
from .ray_pool import NAMESPACE, PooledRun, Pools
from .ray_run import OUTAGE_HELD, READ_TIMEOUT, RayRun, reattach, recover
from .ray_run import LOST_MESSAGE, RECOVERED  # noqa: F401  (what a lost or recovered run says)

log = logging.getLogger(__name__)

START_TIMEOUT = 120.0       # s: for the first pool to come up, and for a pool to build a run
PING_SECONDS = 2.0          # s: how often the pools are asked for their load (a dead one is noticed)
PLAN_SECONDS = 10.0         # s: how often the pools are matched to the cluster's nodes
WATCH_SECONDS = 10.0        # s: how often runs nobody is looking at are polled (checkpoint due?)


class RayBackend:
    """Makes `RayRun`s on trainer pools: connects to Ray on first use (RAY_ADDRESS, else a local Ray)."""
    name = "ray"

    def __init__(self, limits: Limits, env: dict | None = None, store=None):
        env = os.environ if env is None else env
        self.limits, self.store = limits, store     # store: a RunStore for placements and checkpoints
        self.address = env.get("RAY_ADDRESS", "").strip() or None
        self.cpus_per_pool = _positive(env.get("PLAYGROUND_RAY_CPUS_PER_POOL"), 1.0)
        self.namespace = env.get("PLAYGROUND_RAY_NAMESPACE", "").strip() or NAMESPACE
        self.database_url = env.get("PLAYGROUND_DATABASE_URL", "").strip()  # shared by the fronts: placements
        self.pools: Pools | None = None
        self._runs: dict[str, RayRun] = {}
        self._unsaved: set[str] = set()             # runs whose placement the store has not taken yet
        self._lock = threading.Lock()
        self._watcher: threading.Thread | None = None
        self.outage = Outage()                       # the cluster unreachable: since when

    # ---- the cluster --------------------------------------------------------------------------
    def connect(self) -> None:
        """Join RAY_ADDRESS's cluster, or start a local Ray, and make the pools; ValueError with a
        clear message if that fails (the page shows it; the server log has it too)."""
        with self._lock:
            if self.pools is not None:
                return
            # no Ray call may start a Ray of its own in this process (Ray does so for a call made
            # while it is not joined, e.g. in an outage): read by ray when it is first imported
            os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
            try:
                import ray
            except ImportError:
                raise ValueError("PLAYGROUND_BACKEND=ray needs the ray package: "
                                 "pip install -r requirements-ray.txt") from None
            if self.address and (why := unreachable(self.address)) is not None:
                raise cannot_reach(self.address, why, self.outage.since_text)
            if not ray.is_initialized():
                self._init(ray)
            self.store = self.store or open_store(self.database_url)
            self.pools = Pools(self.namespace, self.cpus_per_pool)
            self.pools.ensure()
            if self._watcher is None:
                self._watcher = threading.Thread(target=self._watch, name="ray-pool-watcher", daemon=True)
                self._watcher.start()
            log.info("Ray backend: %s, trainer pools in namespace %r (one per %g CPU)",
                     f"cluster at {self.address}" if self.address else "a local Ray", self.namespace,
                     self.cpus_per_pool)

    def _init(self, ray) -> None:
        if self.address is None:
            ray.init(address="local", num_cpus=self.limits.max_concurrent, include_dashboard=False)
            return
        try:
            ray.init(address=self.address, runtime_env=_runtime_env())
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ...: one message
            raise cannot_reach(self.address, f"{type(e).__name__}: {e}") from None

    def sharing(self) -> tuple[int, int]:
        """(runs training on the pools now, worker threads of the pools): the pools' counts as
        last pinged (every front's runs), at least this front's runs as last seen."""
        if (pools := self.pools) is None:
            return 0, 1
        mine = sum(r.last_status in ACTIVE for r in list(self._runs.values()))
        return max(mine, sum(load.active for load in list(pools.loads.values()))), pools.workers()

    # ---- runs ------------------------------------------------------------------------------------
    def make_run(self, model_config: ModelConfig, train_config: TrainConfig, text: str, owner: str,
                 label: str = "", corpus_key: str = "", observer: RunObserver | None = None,
                 run_id: str | None = None, **trainer_kwargs) -> RayRun:
        """Place the run on the least-loaded warm pool (ValueError if it cannot be built). With
        the `run_id` of a run a pool still holds (a front restarted), that run is taken over."""
        self.connect()
        if run_id and (live := self._live(run_id, owner, text, observer)) is not None:
            return live
        import ray
        if train_config.device == "cuda" and not ray.cluster_resources().get("GPU"):
            raise ValueError("device 'cuda' was chosen but the Ray cluster has no GPU")
        t0 = time.monotonic()
        if not self.pools.wait_warm(START_TIMEOUT):
            raise ValueError(f"no trainer pool of the Ray cluster answered within {START_TIMEOUT:g} s")
        spec = RunSpec(model_config, train_config, text, label or default_label(model_config), corpus_key,
                       trainer_kwargs)
        run_id = run_id or secrets.token_urlsafe(16)
        t1 = time.monotonic()
        handle, summary = self.spawn(spec, None, None, run_id)
        run = RayRun(self, spec, owner, handle, summary, observer, run_id=run_id)
        self._keep(run)
        t2 = time.monotonic()
        run.poll()                                   # takes the first checkpoint (for a restart)
        log.info("Ray backend: run %s placed on %s in %.2f s (pools %.2f, build %.2f, first checkpoint %.2f)",
                 run_id[:6], run.placement, time.monotonic() - t0, t1 - t0, t2 - t1, time.monotonic() - t2)
        return run

    def spawn(self, spec: RunSpec, checkpoint: bytes | None, samples: list | None, run_id: str):
        """Build `spec` on a pool: (PooledRun, RunSummary); ValueError with the reason otherwise.
        A pool that died meanwhile is forgotten and another one tried."""
        self.connect()                               # after an outage: joins again, or says why not
        import ray
        avoid: frozenset = frozenset()
        for _ in range(3):
            name, pool, ref = self.pools.place(spec.train_config, avoid, lambda pool: pool.add_run.remote(
                run_id, spec.model_config, spec.train_config, spec.text, self.limits, spec.label, spec.corpus_key,
                spec.trainer_kwargs, checkpoint, samples))
            try:
                info = ray.get(ref, timeout=START_TIMEOUT)
            except ray.exceptions.RayActorError:
                self.pools.refresh()
                avoid = avoid | {name}
                continue
            except ray.exceptions.GetTimeoutError:
                raise ValueError(f"the trainer pool {name} did not build this run within {START_TIMEOUT:g} s: "
                                 "the cluster may be overloaded") from None
            except ray.exceptions.RayError as e:
                log.error("Ray backend: placing a run on %s failed: %s", name, e)
                raise ValueError(f"the Ray cluster could not build this run ({type(e).__name__})") from None
            if isinstance(info, str):
                raise ValueError(info)
            return PooledRun(pool, name, run_id), info
        raise ValueError("the Ray cluster's trainer pools keep failing: ask the instructor to check the cluster")

    def find(self, run_id: str, owner: str, placement: str, text: str = "",
             observer: RunObserver | None = None) -> RayRun | None:
        """The run `run_id` on the pool named `placement` (e.g. from the run store, in a front
        started after the one that made it), or None if that pool does not hold it. `text` is
        what a restart would train on."""
        self.connect()
        import ray
        if (pool := self.pools.holding(placement, run_id)) is None:
            return None
        try:
            summary = ray.get(pool.ready.remote(run_id), timeout=10)
        except ray.exceptions.RayError:
            return None
        extra = summary.extra
        spec = RunSpec(summary.model_config, summary.train_config, text, extra.get("label", ""),
                       extra.get("corpus_key", ""))
        run = RayRun(self, spec, owner, PooledRun(pool, placement, run_id), summary, observer, run_id=run_id)
        self._keep(run)
        return run

    def _live(self, run_id: str, owner: str, text: str, observer) -> RayRun | None:
        """The run `run_id` if a pool holds it: where the store says, else asking every pool."""
        record = self.store.get_run(run_id) if self.store is not None else None
        names = [record.placement] if record is not None and record.placement else list(self.pools.handles)
        for name in names:
            if (run := self.find(run_id, owner, name, text, observer)) is not None:
                return run
        return None

    def _keep(self, run: RayRun) -> None:
        with self._lock:
            self._runs[run.run_id] = run
            self._unsaved.add(run.run_id)

    def release(self, handle) -> None:
        """Drop a run from its pool (the pool lives on; in an outage there is nothing to reach)."""
        if self.outage.since is None:
            handle.remove()

    def forget(self, run: RayRun) -> None:
        with self._lock:
            self._runs.pop(run.run_id, None)
            self._unsaved.discard(run.run_id)

    def stored_checkpoint(self, run_id: str):
        """The run store's latest checkpoint of the run (a CheckpointRecord), or None."""
        if self.store is None:
            return None
        try:
            return self.store.latest_checkpoint(run_id)
        except Exception as e:  # noqa: BLE001 - the store unreachable: the proxy's checkpoint will do
            log.warning("Ray backend: no stored checkpoint for run %s (%s)", run_id[:6], e)
            return None

    # ---- the watcher ------------------------------------------------------------------------------
    def _watch(self) -> None:
        watch(self)


def watch(backend: RayBackend) -> None:
    """The backend's watcher thread: ping pools (a dead one's runs are recovered), follow the
    nodes, poll runs, save placements; leave Ray while the cluster cannot be reached (Outage) and
    join again when it can."""
    import ray
    planned = polled = time.monotonic()
    while True:
        time.sleep(PING_SECONDS)
        if backend.outage.since is None and not ray.is_initialized():   # this process left Ray: nothing to watch
            return
        try:
            if backend.outage.since is not None:
                backend.outage.try_end(backend)
                continue
            if backend.address and (why := unreachable(backend.address)) is not None:
                backend.outage.begin(backend, why)
                continue
            now = time.monotonic()
            dead = backend.pools.refresh()
            if dead or now - planned > PLAN_SECONDS:
                backend.pools.ensure()
                planned = now
            recover_lost(backend._runs, dead, backend._unsaved, backend.outage.last_seconds)
            if now - polled > WATCH_SECONDS:          # runs nobody views: checkpoint due? lost?
                for run in [r for r in list(backend._runs.values()) if r.last_status in ACTIVE]:
                    run.poll()
                polled = now
            save_placements(backend.store, backend._runs, backend._unsaved)
        except SystemExit:                        # Ray shut down under a call in flight (ray.wait)
            return
        except Exception:  # noqa: BLE001 - the watcher must survive anything
            if backend.outage.since is None and not ray.is_initialized():   # Ray shut down under a call (exit)
                return
            log.exception("Ray backend: the watcher failed")


class Outage:
    """The cluster at RAY_ADDRESS cannot be reached. Ray's driver ends its process once the
    cluster's control store (GCS) has not answered for 60 s, which would end this front and every
    learner's page on it; so the front leaves Ray first: every run is marked lost with a message
    (what it shows meanwhile), and the pools are forgotten. When the address answers again, the
    front joins again (new pools), and the watcher recovers the runs that were training from
    their newest checkpoint (the run store's, else the one the front kept)."""

    def __init__(self):
        self.since: float | None = None         # time.time() when it was noticed; None: reachable
        self.last_seconds = 0.0                 # how long the last outage lasted (recovery notes)

    since_text = property(lambda self: None if self.since is None else time.strftime("%H:%M:%S", time.gmtime(self.since)),
                          doc="When it was noticed, as a UTC time of day (None: reachable).")

    def begin(self, backend: RayBackend, why: str) -> None:
        import ray
        self.since = time.time()
        log.error("Ray backend: the cluster at %s cannot be reached (%s): its runs are lost until it is back; "
                  "this front leaves Ray and joins again when it answers", backend.address, why)
        with backend._lock:
            backend.pools = None                  # a Start now says the cluster cannot be reached
            runs = list(backend._runs.values())
        for run in runs:                          # no new reads; those in flight end within their timeout
            run.mark_lost(outage_since=self.since_text)
        time.sleep(READ_TIMEOUT + 0.5)            # (a call in flight at shutdown raises SystemExit in its thread)
        ray.shutdown()

    def try_end(self, backend: RayBackend) -> None:
        """Join again if the address answers and a pool is warm (else try at the next tick)."""
        if unreachable(backend.address) is not None:
            return
        try:
            backend.connect()
        except ValueError:                        # logged by cannot_reach
            return
        if backend.pools is not None and backend.pools.wait_warm(START_TIMEOUT):
            self.last_seconds, self.since = time.time() - self.since, None
            held = reattach_held(backend.pools, list(backend._runs.values()), self.last_seconds)
            log.info("Ray backend: the cluster at %s answers again after %.0f s; %d run(s) still held by their "
                     "pools, the others are recovered from their checkpoints", backend.address, self.last_seconds, held)


def reattach_held(pools: Pools, runs: list, seconds: float) -> int:
    """Lost runs whose pool (by name) still holds them, e.g. after a network outage the cluster
    lived through, go on with it; how many. The others are recovered by the watcher."""
    held = 0
    for run in runs:
        if (pool := pools.holding(run.placement, run.run_id)) is None:
            continue
        reattach(run, PooledRun(pool, run.placement, run.run_id), OUTAGE_HELD.format(seconds=seconds))
        held += 1
    return held


def join_soon(backend: RayBackend) -> threading.Thread:
    """Join the cluster and warm the pools in a background thread, so that a front started before
    its learners arrive (a hall) has joined when the first Start comes, not during it (every
    Start waited for the front's Ray connection, then for the pools' first answers). A failure
    is logged; the first Start tries again and says why. Only for a cluster at RAY_ADDRESS: a
    local Ray's processes die with the thread that started them (Ray sets PR_SET_PDEATHSIG, which
    follows the starting thread), so a local Ray starts in the first Start's page, as before."""
    def join() -> None:
        try:
            backend.connect()
            if backend.pools is not None:
                backend.pools.wait_warm(START_TIMEOUT)
        except Exception as e:  # noqa: BLE001 - ValueError (unreachable), Ray's errors: Start tries again
            log.warning("Ray backend: joining the cluster early failed (%s); the first Start tries again", e)

    thread = threading.Thread(target=join, name="ray-join", daemon=True)
    thread.start()
    return thread


def cannot_reach(address: str, why: str, since: str | None = None) -> ValueError:
    """The one message for the page (ValueError) and the server log: no silent fallback.
    `since`: the outage's Outage.since_text, if it answered before."""
    if since is not None:                      # it answered before: an outage
        message = (f"the Ray cluster at RAY_ADDRESS={address} cannot be reached since {since} UTC ({why}). "
                   "Runs that were training resume by themselves when it is back; press Start again then.")
    else:
        message = (f"the Ray cluster at RAY_ADDRESS={address} cannot be reached ({why}). "
                   "Ask the instructor: the cluster must be started (ray start --head) or RAY_ADDRESS "
                   "fixed; then press Start again.")
    log.error("Ray backend: %s", message)
    return ValueError(message)


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


def recover_lost(runs: dict, dead: set[str], unsaved: set, outage_seconds: float = 0.0) -> None:
    """Runs on a dead pool (`dead`: pool names) are lost; those lost while training go to another
    pool, and their new placement joins `unsaved` (`outage_seconds`: for the note of runs lost
    in the last outage)."""
    for run in list(runs.values()):
        if run.placement in dead:
            run.mark_lost()
        if run.needs_recovery:
            try:
                recover(run, outage_seconds)
                unsaved.add(run.run_id)
                log.info("Ray backend: run %s recovered on %s", run.run_id[:6], run.placement)
            except ValueError as e:
                log.error("Ray backend: run %s could not be recovered yet: %s", run.run_id[:6], e)


def save_placements(store, runs: dict, unsaved: set) -> None:
    """Write run -> pool (and node) to the store's runs table for the runs in `unsaved`; a run
    whose row does not exist yet (its front saves it) stays there and is tried again."""
    if store is None or not unsaved:
        return
    from .store import update_run
    for run_id in list(unsaved):
        run = runs.get(run_id)
        if run is None:
            unsaved.discard(run_id)
            continue
        with store.begin() as conn:
            if update_run(conn, run_id, {"placement": run.placement, "node": run.node_id}, time.time()):
                unsaved.discard(run_id)


def open_store(url: str):
    """The run store the fronts share (placements, checkpoints), or None (no URL, or it fails:
    then recovery uses the front's own checkpoints and placements are not written)."""
    if not url:
        return None
    from .store import RunStore
    from .store_schema import StoreError
    try:
        return RunStore.open(url)
    except StoreError as e:
        log.error("Ray backend: the run store cannot be used for placements (%s)", e)
        return None
