"""A front's Ray backend in a process of its own, for tests/test_ray_outage.py: it joins the
cluster at RAY_ADDRESS, starts one run, and prints the run as a page sees it (one JSON line every
0.3 s: status, step, message, the status label its page shows, this process's Ray connection) until it is ended. It reads snapshots
from a second thread too, as pages do while the watcher handles an outage."""
import json
import sys
import threading
import time

import ray

from playground.config import ModelConfig, TrainConfig
from playground.limits import Limits
from playground.ray_backend import RayBackend
from playground.ui.live import status_label


def main() -> None:
    backend = RayBackend(Limits())
    run = backend.make_run(ModelConfig(hidden_size=16), TrainConfig(batch_size=8, seq_len=16), "hello world. " * 300,
                           owner="learner")
    run.start(1_000_000)

    def page() -> None:                 # another page's reads, all the while
        while True:
            run.snapshot()
            time.sleep(0.2)

    threading.Thread(target=page, daemon=True).start()
    t0 = time.monotonic()
    while True:
        snap = run.snapshot()
        print(json.dumps({"t": round(time.monotonic() - t0, 2), "status": str(snap.status), "step": snap.step,
                          "message": snap.message, "label": status_label(snap),
                          "connected": ray.is_initialized()}), flush=True)
        time.sleep(0.3)


if __name__ == "__main__":
    sys.exit(main())
