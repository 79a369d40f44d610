"""The Ray backend against the local one, on the same cores, in one run:

    python -m benchmarks.ray_backend [--runs 6] [--seconds 30] [--workshop 6]

1. starts a two-node Ray cluster on this machine (`ray start --head --num-cpus 1`, then a second
   node `ray start --address ... --num-cpus 1`, both on 127.0.0.1, in their own temp dir so that
   they, and only they, are stopped by PID at the end);
2. local backend: --runs runs of the Train page's defaults (LSTM 128, seq_len 64, batch 32) on
   the in-process scheduler with 2 trainer threads; Ray backend: the same runs on the trainer
   pools of the cluster's 2 CPUs (one pool of one thread per node); alternated --repeats times (machine noise hits both sides). For each: aggregate
   tokens/s over --seconds once every run has stepped, and, meanwhile, a page's calls: snapshot
   round trips (p50/p95; the Ray proxy fetches only new rows), control latency (set_lr, then the
   page's next read shows it; pause, then status shows it), where each actor runs, and the time
   from create to a run's first step. Tokens per CPU-second of the trainers' processes (this one,
   and the pools) compares the two without the machine's other work;
3. --workshop N: benchmarks/workshop.py with N learners against a Streamlit server using the
   cluster (PLAYGROUND_BACKEND=ray RAY_ADDRESS=...), while the pools alive per node are counted.

The last line is the whole result as JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playground import corpora  # noqa: E402
from playground.config import ModelConfig, TrainConfig  # noqa: E402
from playground.limits import LIMITS  # noqa: E402
from playground.runner import RunRegistry  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def two_node_cluster(extra_env: dict | None = None):
    """A head and a worker node with 1 CPU each on 127.0.0.1; yields the address. Stopped by PID:
    the processes whose command line names this cluster's temp dir. `extra_env` goes to the
    `ray start` commands only (this process's environment is left as it is)."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rb", dir="/tmp")
    try:
        ray_start(port, temp, extra_env, head=True)
        ray_start(port, temp, extra_env, head=False)
        yield f"127.0.0.1:{port}"
    finally:
        stop_by_temp_dir(temp)


def ray_start(port: int, temp: str, extra_env: dict | None = None, head: bool = True) -> None:
    """`ray start` of a head on 127.0.0.1:`port` (or of a node joining it), 1 CPU, its files in
    `temp` (which names its processes for stop_by_temp_dir). `extra_env` goes to it only."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}   # RAY_AUTH_MODE=token: see main()
    env.update(extra_env or {})
    if head and env.get("RAY_AUTH_MODE") == "token":
        # `ray start` does not create the token `ray.init` would (~/.ray/auth_token): on a fresh
        # machine it refuses to start. Ray's own command makes one if there is none (not printed).
        subprocess.run(["ray", "get-auth-token", "--generate"], check=True, env=env, capture_output=True)
    where = ["--head", "--port", str(port), "--include-dashboard", "false"] if head else \
        ["--address", f"127.0.0.1:{port}"]
    subprocess.run(["ray", "start", *where, "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--temp-dir", temp,
                    "--disable-usage-stats"], check=True, env=env, capture_output=True)


def stop_by_temp_dir(temp: str) -> None:
    """SIGTERM, then SIGKILL, the Ray processes of the cluster in `temp` (their flags name it)."""
    pids = [pid for pid in ray_pids(temp) if pid != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(2)


def processes() -> dict[int, list[str]]:
    """Every process this machine shows in /proc: PID -> its argv (those that vanish meanwhile
    are left out)."""
    found = {}
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit():
                found[int(proc.name)] = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
    return found


def ray_pids(temp: str) -> list[int]:
    """Processes whose flags put them in `temp` (--temp-dir=TEMP, --session-dir=TEMP/session_...)."""
    return [pid for pid, argv in processes().items()
            if any(a.endswith(f"={temp}") or f"={temp}/session_" in a for a in argv)]


def worker_raylets(address: str) -> dict[str, int]:
    """The worker (not head) nodes of the local cluster at `address` ("host:port"): node id ->
    the PID of its raylet (`ray start` gives the head's raylet `--head`)."""
    port = address.rsplit(":", 1)[1]
    return {next(a.split("=", 1)[1] for a in argv if a.startswith("--node_id=")): pid
            for pid, argv in processes().items()
            if argv[0].endswith("raylet") and "--head" not in argv
            and any(a.startswith("--gcs-address=") and a.endswith(f":{port}") for a in argv)}


def kill_tree(pid: int) -> list[int]:
    """SIGKILL `pid` and every process under it (a node's raylet: its workers and agents too, as
    when the machine goes away). Returns the PIDs killed."""
    parents = {}
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if proc.name.isdigit():
                parents[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    for victim in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
    return tree


def cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds of these processes so far (all their threads)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def ms(values: list[float]) -> dict:
    return {"p50": round(1e3 * pct(values, 0.5), 2), "p95": round(1e3 * pct(values, 0.95), 2), "n": len(values)}


def measure(registry: RunRegistry, runs: int, seconds: float, text: str) -> dict:
    """--runs default runs training together; a page's calls while they train."""
    model, train = ModelConfig(), TrainConfig()
    tokens_per_step = train.batch_size * train.seq_len
    t0 = time.monotonic()
    with ThreadPoolExecutor(runs) as pool:                  # learners press Start together
        made = list(pool.map(lambda i: registry.create(model, train, text, owner=f"bench-{i}"), range(runs)))
    created = time.monotonic() - t0
    for run in made:
        run.start(1_000_000)
    first_step = []
    while len(first_step) < runs:                      # create -> first step, all runs
        first_step = [time.monotonic() - t0 for r in made if r.steps_done > 0]
        time.sleep(0.05)
    snapshot_s, set_lr_s, pause_s = [], [], []
    pids = {os.getpid()} | {r.pid for r in made if getattr(r, "pid", None)}   # trainers' processes (the pools)
    cpu0 = cpu_seconds(pids)
    start_steps = [r.steps_done for r in made]
    start = time.monotonic()
    rng = random.Random(0)
    while time.monotonic() - start < seconds:
        run = rng.choice(made)
        t = time.perf_counter()
        run.snapshot()
        snapshot_s.append(time.perf_counter() - t)
        if len(snapshot_s) % 20 == 0:                  # a control now and then
            lr = rng.choice([1e-3, 3e-3])
            t = time.perf_counter()
            run.set_lr(lr)
            while run.lr != lr:
                time.sleep(0.001)
            set_lr_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            run.pause()
            while run.status != "paused":
                time.sleep(0.001)
            pause_s.append(time.perf_counter() - t)
            run.resume()
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    steps = sum(r.steps_done - s for r, s in zip(made, start_steps))
    cpu = cpu_seconds(pids) - cpu0
    nodes = Counter(getattr(r, "node_id", "local")[:8] for r in made)
    for run in made:
        registry.remove(run.run_id)
    return {"tokens_per_s": round(steps * tokens_per_step / elapsed), "steps": steps, "seconds": round(elapsed, 1),
            "cpu_cores_used": round(cpu / elapsed, 2), "tokens_per_cpu_s": round(steps * tokens_per_step / cpu),
            "create_all_s": round(created, 2), "first_step_s": {"max": round(max(first_step), 2)},
            "snapshot_ms": ms(snapshot_s), "set_lr_ms": ms(set_lr_s), "pause_ms": ms(pause_s),
            "runs_per_node": dict(nodes)}


def local_registry(workers: int) -> RunRegistry:
    return RunRegistry(limits=replace(LIMITS, max_concurrent=workers))


def ray_registry(address: str):
    import ray

    from playground.ray_backend import RayBackend
    limits = replace(LIMITS, max_concurrent=2)
    backend = RayBackend(limits, env={"RAY_ADDRESS": address})
    backend.connect()
    return RunRegistry(limits=limits, backend=backend), ray


def actors_per_node(stop: threading.Event, seen: list) -> None:
    """Every 5 s: alive trainer pools (TrainerPool actors) per node, from the cluster's actor table (GCS; the state API
    would need the dashboard, which this cluster runs without)."""
    from ray._private.state import actors
    while not stop.wait(5):
        with contextlib.suppress(Exception):
            alive = [a for a in actors().values() if a["State"] == "ALIVE" and "TrainerPool" in a["ActorClassName"]]
            seen.append(dict(Counter(a["Address"]["NodeID"][:8] for a in alive)))


def workshop(address: str, sessions: int, seconds: float) -> dict:
    import ray
    ray.init(address=address, log_to_driver=False)       # a driver that only reads the actor table
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=actors_per_node, args=(stop, seen), daemon=True)
    watcher.start()
    cmd = [sys.executable, "-m", "benchmarks.workshop", "--sessions", str(sessions), "--seconds", str(seconds),
           "--baseline-seconds", "0", "--toggle-every", "20", "--env", "PLAYGROUND_BACKEND=ray",
           "--env", f"RAY_ADDRESS={address}"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    stop.set()
    watcher.join()
    ray.shutdown()
    print(out.stdout[-4000:], out.stderr[-2000:] if out.returncode else "", flush=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": out.returncode}
    both = [s for s in seen if len(s) >= 2]
    return {"result": {k: result.get(k) for k in ("progressed", "learners", "exceptions", "dropped_websockets",
                                                  "server_log_tracebacks")},
            "first_step_s": [r.get("first_step_s") for r in result.get("rounds", [])],
            "rerun_s": [r.get("rerun_s") for r in result.get("rounds", [])],
            "alive_actors_per_node": seen, "samples_with_both_nodes": f"{len(both)}/{len(seen)}"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--repeats", type=int, default=2, help="local/ray alternations")
    ap.add_argument("--workshop", type=int, default=0, help="learners for benchmarks/workshop.py (0: skip)")
    ap.add_argument("--workshop-seconds", type=float, default=60)
    args = ap.parse_args()
    # Ray 2.60's `ray start --head` turns token authentication on; the second node, this driver and
    # the workshop's Streamlit server then present ~/.ray/auth_token, which they do in token mode
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    text = corpora.load("brackets", 200_000)
    out = {"runs": args.runs, "load_average_at_start": os.getloadavg()[0]}
    with two_node_cluster() as address:
        registry, ray = ray_registry(address)
        for k in range(args.repeats):                 # alternated: the machine's noise hits both
            for name, reg in (("local", local_registry(2)), ("ray", registry)):
                out[f"{name}_{k + 1}"] = measure(reg, args.runs, args.seconds, text)
                print(f"{name}:", out[f"{name}_{k + 1}"], flush=True)
        tps = {name: statistics.mean(out[f"{name}_{k + 1}"]["tokens_per_s"] for k in range(args.repeats))
               for name in ("local", "ray")}
        per_cpu = {name: statistics.mean(out[f"{name}_{k + 1}"]["tokens_per_cpu_s"] for k in range(args.repeats))
                   for name in ("local", "ray")}
        out["tokens_per_s"] = {name: round(v) for name, v in tps.items()}
        out["ray_vs_local_tokens_per_s"] = round(tps["ray"] / tps["local"], 3)
        out["ray_vs_local_tokens_per_cpu_s"] = round(per_cpu["ray"] / per_cpu["local"], 3)
        ray.shutdown()
        if args.workshop:
            out["workshop"] = workshop(address, args.workshop, args.workshop_seconds)
    out["load_average_at_end"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
