"""Hall load test: N learners through the balancer of a hall (deploy/hall.py: HAProxy, N fronts,
a two-node Ray cluster, a shared store), each pressing Start on /Train.

    python -m benchmarks.hall_load --learners 60 --fronts 2 --seconds 120 [--database postgres]
    python -m benchmarks.hall_load --learners 60 --seconds 90 --kill-front-after 30   # a front crashes

The learners are benchmarks/workshop.py's (Streamlit's websocket protocol, benchmarks/st_client.py)
pointed at the balancer's URL; HAProxy spreads their websockets over the fronts (leastconn). On
top of workshop.py's figures (progressed, first step after Start, reruns, exceptions, dropped
websockets) it reports, per learner: the fronts' CPU (cores busy / learners) and RSS, and the
trainer pools' RSS (read from the pools themselves: `TrainerPool.load()`), with the runs they held.
The last line of output is the whole result as one JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from benchmarks import workshop
from deploy.hall import Hall


def connect(address: str):
    import ray
    from playground.ray_backend import _runtime_env
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, runtime_env=_runtime_env())
    return ray


def warm_pools(address: str, timeout: float = 180) -> int:
    """Start the trainer pools as a front's first Start would, so the learners meet warm pools
    (the cold start is reported apart); how many answered."""
    connect(address)
    from playground.ray_pool import Pools
    pools = Pools()
    pools.wait_warm(timeout)
    return len(pools.loads)


def pool_loads(address: str) -> list[dict]:
    """Every trainer pool's load (runs held, RSS), asked from this process as a Ray client."""
    from playground.ray_pool import NAMESPACE
    ray = connect(address)
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE]
    loads = []
    for name in names:
        try:
            load = ray.get(ray.get_actor(name, namespace=NAMESPACE).load.remote(), timeout=20)
        except Exception:  # noqa: BLE001 - a pool that died: not counted
            continue
        loads.append({"name": name, "runs": load.runs, "active": load.active, "rss_mb": round(load.rss_bytes / 2**20, 1)})
    return loads


def warm_fronts(hall: Hall, query: str) -> list[float]:
    """Each front's first page load, made on its own port (not through the balancer), in seconds:
    a front imports torch & co. on its first page (playground/warmup.py), as the one server of
    benchmarks/workshop.py does before its learners come; the cold loads are reported apart."""
    return [asyncio.run(workshop.first_load(f"http://127.0.0.1:{front.port}", query)) for front in hall.started]


def fronts_cpu(hall: Hall) -> float:
    return sum(workshop.proc_cpu_seconds(f.pid) for f in hall.started if f.proc.poll() is None)


def fronts_rss(hall: Hall) -> list[float]:
    return [round(workshop.proc_status(f.pid)[0], 1) for f in hall.started if f.proc.poll() is None]


def kill_a_front(hall: Hall, after: float):
    """`during` for workshop.phase: `after` s once every learner has pressed Start, SIGKILL the
    first front; its learners' pages connect again through the balancer (workshop.rejoin)."""
    async def during(clock) -> None:
        while clock.end == float("inf"):
            await asyncio.sleep(0.2)
        await asyncio.sleep(after)
        front = hall.started[0]
        clock.killed_at = time.monotonic()
        hall.kill_front(front)
        print(f"  killed front 0 (pid {front.pid}) {after:g} s after the last Start", flush=True)
    return during


def measure(args, hall: Hall) -> dict:
    wargs = workshop.parse_args(["--sessions", str(args.learners), "--seconds", str(args.seconds),
                                 "--baseline-seconds", "0", "--ramp-seconds", str(args.ramp_seconds),
                                 "--toggle-every", "0", "--settle-seconds", "2", "--query", args.query])
    cold = None
    if hall.ray_address and not args.cold:
        t = time.monotonic()
        warm = warm_pools(hall.ray_address)
        cold = round(time.monotonic() - t, 1)
        print(f"  {warm} trainer pools warm after {cold} s", flush=True)
    cold_loads = warm_fronts(hall, args.query)
    print(f"  each front's first page load (its imports): {cold_loads} s", flush=True)
    rss_idle = fronts_rss(hall)
    cpu0, t0 = fronts_cpu(hall), time.monotonic()
    during = kill_a_front(hall, args.kill_front_after) if args.kill_front_after is not None else None
    # the monitored front (RSS, threads) is the last one: a killed front is the first
    out = asyncio.run(workshop.workshop(wargs, hall.url, hall.started[-1].pid, during))
    wall = time.monotonic() - t0
    out = workshop.overall(out, "".join(f.log.read_text(errors="replace") for f in hall.started))
    print(workshop.report(out))
    busy = (fronts_cpu(hall) - cpu0) / wall
    out["hall"] = {"fronts": len(hall.started), "backend": hall.backend, "database": hall.database.split(":")[0],
                   "fronts_rss_mb_idle": rss_idle, "fronts_rss_mb_after": fronts_rss(hall),
                   "pools_cold_start_s": cold, "fronts_first_load_s": cold_loads, "fronts_cpu_cores": round(busy, 2), "front_cpu_cores_per_learner": round(busy / args.learners, 4)}
    if hall.ray_address:
        pools = pool_loads(hall.ray_address)
        held = sum(p["runs"] for p in pools)
        out["hall"]["pools"] = pools
        out["hall"]["pool_rss_mb_total"] = round(sum(p["rss_mb"] for p in pools), 1)
        out["hall"]["runs_held"] = held
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--learners", type=int, default=60)
    ap.add_argument("--fronts", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--ramp-seconds", type=float, default=10)
    ap.add_argument("--backend", choices=["ray", "local"], default="ray")
    ap.add_argument("--database", choices=["postgres", "sqlite"], default="sqlite")
    ap.add_argument("--query", default="steps=50000", help="query string for /Train")
    ap.add_argument("--cold", action="store_true", help="do not warm the pools first (the first Start does)")
    ap.add_argument("--kill-front-after", type=float, metavar="S",
                    help="SIGKILL the first front S s after the last Start; its learners rejoin through the balancer")
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    with Hall(args.fronts, 0, args.backend, args.database,
              env={"PLAYGROUND_MAX_RUNS_PER_LEARNER": "5"}) as hall:
        out = measure(args, hall)
        if hall.ray_address:
            import ray
            ray.shutdown()
    h = out["hall"]
    print(f"  hall: {h['fronts']} fronts, fronts' CPU {h['fronts_cpu_cores']} cores = "
          f"{h['front_cpu_cores_per_learner']} per learner; fronts' RSS idle {h['fronts_rss_mb_idle']} MB, "
          f"after {h['fronts_rss_mb_after']} MB; pools' RSS {h.get('pool_rss_mb_total')} MB "
          f"holding {h.get('runs_held')} runs")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
