"""The Ray cluster unreachable (issue 21): a front leaves Ray before Ray's own timeout would end
its process (and every learner's page on it), its runs say what happened, and the runs that were
training train again, from their last checkpoint, when the cluster is back.

A real cluster (`ray start --head`, its own temp dir) is killed and started again on the same
port; the front is tests/ray_outage_front.py, a process of its own (a process joins one Ray)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace

import pandas as pd
import pytest

from benchmarks.ray_backend import free_port, ray_start, stop_by_temp_dir
from conftest import ARTIFACTS, ROOT, wait_until
from playground.front import Snapshot, Status
from playground.ui.live import status_label

pytestmark = pytest.mark.ray
# s: Ray's driver ends a process whose cluster has not answered this long (60 by default). The front
# leaves Ray in 2-5 s (noticed) + up to a read per page holding the run (2 s each) + 2.5 s + the
# shutdown (1.5-5 s): 10 s was too short once, under a full suite's load.
GCS_TIMEOUT = 25
TOKEN = {"RAY_AUTH_MODE": "token"}


class Front:
    """The front process and the lines it printed (one dict per snapshot)."""

    def __init__(self, address: str, log):
        env = {**os.environ, **TOKEN, "RAY_ADDRESS": address, "PYTHONPATH": str(ROOT),
               "RAY_gcs_rpc_server_reconnect_timeout_s": str(GCS_TIMEOUT),
               "PLAYGROUND_DATA_DIR": tempfile.mkdtemp(prefix="playground-outage-")}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ray_outage_front.py")], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        self.lines: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def last(self) -> dict:
        return self.lines[-1] if self.lines else {}

    def sees(self, predicate, timeout: float) -> dict:
        """The first line from now on (or the last one) for which `predicate` holds."""
        assert wait_until(lambda: self.proc.poll() is None and bool(self.lines) and predicate(self.last()),
                          timeout), f"not seen in {timeout:g} s; front exit code {self.proc.poll()}, last {self.last()}"
        return self.last()


def test_runs_say_the_cluster_is_unreachable_and_train_again_when_it_is_back():
    port, temps = free_port(), [tempfile.mkdtemp(prefix="rb", dir="/tmp") for _ in range(2)]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "ray_outage_front.log", "w")
    front = None
    try:
        ray_start(port, temps[0], TOKEN)
        front = Front(f"127.0.0.1:{port}", log)
        front.sees(lambda s: s["status"] == "running" and s["step"] >= 20, timeout=180)

        killed = time.monotonic()
        stop_by_temp_dir(temps[0])                      # the whole cluster: SIGTERM, then SIGKILL (4 s)
        lost = front.sees(lambda s: s["status"] == "lost", timeout=60)
        noticed = time.monotonic() - killed
        assert "The Ray cluster cannot be reached (since" in lost["message"], lost
        assert "resumes by itself" in lost["message"]
        assert lost["label"] == "Cluster unreachable", lost          # not "Worker lost": no worker died
        front.sees(lambda s: not s["connected"], timeout=15)         # it left Ray (its reads ended first)

        # past the time Ray would have ended a process still joined to the dead cluster
        time.sleep(max(0.0, killed + GCS_TIMEOUT + 4 - time.monotonic()))
        before = len(front.lines)
        assert wait_until(lambda: len(front.lines) > before + 3, timeout=10), "the front stopped answering"
        assert front.proc.poll() is None and front.last()["status"] == "lost"

        ray_start(port, temps[1], TOKEN)                # the cluster is back, at the same address
        back = time.monotonic()
        again = front.sees(lambda s: s["status"] == "running" and s["step"] > lost["step"], timeout=180)
        print(f"cluster killed: the run said so after {noticed:.1f} s; back: training again past step "
              f"{lost['step']} after {time.monotonic() - back:.1f} s")
        assert again["connected"] and "could not be reached for" in again["message"], again
        assert "resumed from its last checkpoint" in again["message"] and again["label"] == "Training"
    finally:
        if front is not None:
            front.proc.terminate()
            front.proc.wait(15)
        for temp in temps:
            stop_by_temp_dir(temp)
        log.close()


def test_a_lost_run_is_labelled_by_what_happened():
    lost = Snapshot(run_id="r", label="l", status=Status.LOST, message="", step=1, target_step=9, lr=1e-3,
                    history=pd.DataFrame(), samples=[], parameters=1, vocab_size=2, uniform_perplexity=2.0,
                    unigram_perplexity=2.0, running_seconds=1.0, backend="ray")
    assert status_label(lost) == "Worker lost"                            # its pool died; the others live
    assert status_label(replace(lost, outage=True)) == "Cluster unreachable"
    assert status_label(replace(lost, status=Status.RUNNING, outage=True)) == "Training"


def test_a_run_lost_before_the_outage_was_noticed_says_the_cluster_is_unreachable():
    """Under load the proxy's read timed out (the run marked lost: "its worker stopped") before the
    watcher found the whole cluster out of reach; the outage then left that message, and the
    recovery's note, as they were. Built with no cluster: a lost run's proxy asks Ray nothing."""
    from playground import corpora
    from playground.config import ModelConfig, TrainConfig
    from playground.front import RunState, RunSummary
    from playground.ray_actor import RunSpec
    from playground.ray_run import LOST_MESSAGE, OUTAGE_RECOVERED, RayRun
    mc, tc = ModelConfig(hidden_size=8), TrainConfig()
    spec = RunSpec(mc, tc, corpora.load("brackets", 1000), "run", "brackets")
    run = RayRun(None, spec, "owner", None, RunSummary(mc, tc, 1, 4, 4.0, 3.0))
    run._state = RunState(status=Status.RUNNING, step=42, target_step=100)
    run.mark_lost()                                              # its read timed out first
    assert (run.last_status, run._state.message) == (Status.LOST, LOST_MESSAGE)
    run.mark_lost(outage_since="12:00:00")                       # then the outage is noticed
    assert "The Ray cluster cannot be reached (since 12:00:00 UTC)" in run._state.message
    assert "step 42" in run._state.message and run.needs_recovery     # it was training: it trains on
    assert run._recovered == OUTAGE_RECOVERED
