"""A hall in a box: on one machine, the database, a two-node Ray cluster, N Streamlit fronts and
HAProxy in front of them; up until Ctrl-C, then everything it started is stopped (by PID).

    python -m deploy.hall --fronts 2 --port 8080            # then open http://127.0.0.1:8080
    python -m deploy.hall --fronts 2 --database sqlite      # a shared SQLite file, no PostgreSQL
    python -m deploy.hall --fronts 2 --backend local        # no Ray: runs train in the fronts

What it starts, in order:
  1. PostgreSQL (initdb + pg_ctl in a temporary folder, as the postgres user when root; the same
     recipe as tests/postgres_cluster.py), or a SQLite file in a temporary folder;
  2. a Ray head (`ray start --head --num-cpus 1 --port P --include-dashboard false`) and a second
     node (`ray start --address 127.0.0.1:P --num-cpus 1`), in their own --temp-dir so that only
     they are stopped at the end (benchmarks/ray_backend.py's two_node_cluster); Ray 2.60 turns
     token authentication on: RAY_AUTH_MODE=token for the nodes and the fronts (~/.ray/auth_token);
  3. N fronts: `streamlit run app.py` on free ports with PLAYGROUND_BACKEND, RAY_ADDRESS,
     PLAYGROUND_DATABASE_URL; waits for each /_stcore/health;
  4. HAProxy (/usr/sbin/haproxy) with deploy/haproxy.cfg filled in: websockets, a session cookie
     per front, health checks.
`Hall` is also what the tests and benchmarks/hall_load.py use (a context manager).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = "/usr/sbin/haproxy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until `url` answers 200; RuntimeError if the process exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def haproxy_config(port: int, stats_port: int, fronts: list[int]) -> str:
    """deploy/haproxy.cfg with the hall's ports and one server line per front."""
    servers = "\n".join(f"    server front{i} 127.0.0.1:{p} check cookie front{i}" for i, p in enumerate(fronts))
    template = (Path(__file__).parent / "haproxy.cfg").read_text()
    return template.replace("{port}", str(port)).replace("{stats_port}", str(stats_port)).replace("{servers}", servers)


@dataclass
class Front:
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Hall:
    """The hall's processes; use as a context manager (everything is stopped on exit)."""
    fronts: int = 2
    port: int = 0                      # the balancer's port (0: a free one)
    backend: str = "ray"               # "ray" | "local"
    database: str = "postgres"         # "postgres" | "sqlite"
    env: dict = field(default_factory=dict)
    ray_auth_mode: str = field(default_factory=lambda: os.environ.get("RAY_AUTH_MODE", "token"))   # Ray 2.60's default
    started: list[Front] = field(default_factory=list)
    url: str = ""
    database_url: str = ""
    ray_address: str = ""
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="hall-")))

    def __enter__(self) -> "Hall":
        try:
            self.database_url = self._database()
            if self.backend == "ray":
                self.ray_address = self._ray()
            for _ in range(self.fronts):
                self.start_front()
            self._balancer()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for front in self.started:
            stop(front.proc)
        self._stack.close()

    def _database(self) -> str:
        if self.database == "sqlite":
            return f"sqlite:///{self._tmp / 'playground.sqlite'}"
        sys.path.insert(0, str(ROOT / "tests"))
        from postgres_cluster import postgres_cluster
        return self._stack.enter_context(postgres_cluster()) + "/postgres"

    def _ray(self) -> str:
        from benchmarks.ray_backend import two_node_cluster     # token auth for the nodes and the fronts,
        return self._stack.enter_context(two_node_cluster({"RAY_AUTH_MODE": self.ray_auth_mode}))

    def front_env(self) -> dict:
        env = dict(os.environ, PLAYGROUND_BACKEND=self.backend, PLAYGROUND_DATABASE_URL=self.database_url,
                   **self.env)
        if self.ray_address:
            env.update(RAY_ADDRESS=self.ray_address, RAY_AUTH_MODE=self.ray_auth_mode)
        return env

    def start_front(self) -> Front:
        """One more `streamlit run app.py` (healthy when this returns)."""
        port = free_port()
        log = self._tmp / f"front-{port}.log"
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.front_env(), stdout=out, stderr=subprocess.STDOUT)
        front = Front(port, proc, log)
        self.started.append(front)
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
        return front

    def _balancer(self) -> None:
        self.port = self.port or free_port()
        cfg = self._tmp / "haproxy.cfg"
        cfg.write_text(haproxy_config(self.port, free_port(), [f.port for f in self.started]))
        subprocess.run([HAPROXY, "-c", "-q", "-f", str(cfg)], check=True)
        proc = subprocess.Popen([HAPROXY, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                stderr=open(self._tmp / "haproxy.log", "wb"))
        self._stack.callback(stop, proc)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_healthy(self.url + "/_stcore/health", proc)

    def kill_worker_node(self) -> str:
        """SIGKILL the Ray worker node (its raylet and every process under it: the machine gone);
        returns its node id. The head, with Ray's control plane, stays."""
        from benchmarks.ray_backend import kill_tree, worker_raylets
        (node_id, raylet), *_ = worker_raylets(self.ray_address).items()
        kill_tree(raylet)
        return node_id

    def kill_front(self, front: Front) -> None:
        """SIGKILL one front (a crash); the balancer's health check takes it out."""
        front.proc.kill()
        front.proc.wait(10)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL after `timeout` s, one process this module started."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fronts", type=int, default=2)
    ap.add_argument("--port", type=int, default=8080, help="the balancer's port on 127.0.0.1")
    ap.add_argument("--backend", choices=["ray", "local"], default="ray")
    ap.add_argument("--database", choices=["postgres", "sqlite"], default="postgres")
    args = ap.parse_args()
    with Hall(args.fronts, args.port, args.backend, args.database) as hall:
        print(f"hall up: {hall.url}  ({len(hall.started)} fronts: "
              f"{', '.join(f'{f.port} pid {f.pid}' for f in hall.started)}; database {hall.database_url}; "
              f"Ray {hall.ray_address or 'none'}). Ctrl-C stops everything.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while all(f.proc.poll() is None for f in hall.started):
                time.sleep(1)
            print("a front exited: stopping the hall", flush=True)


if __name__ == "__main__":
    main()
