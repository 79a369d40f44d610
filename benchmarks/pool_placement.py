"""What a Start costs on a trainer pool that has a core of its own, in one run:

    python -m benchmarks.pool_placement [--runs 30] [--seconds 10]

On a local Ray with one CPU (no fronts, no balancer, no other node on the machine), one
`TrainerPool` (playground/ray_pool.py):
1. builds runs (`add_run`, the Train page's defaults on Nested brackets) while idle;
2. builds --runs runs one after another, each started as soon as it is built, so the later ones
   are placed while the earlier ones train in turns;
3. with all of them training, a reader per run asks for its snapshot once a second (as a page's
   live view does) for --seconds, while 5 more runs are built.
It prints the build times and the reads' p50/p95. In the 60-learner hall on this 2-core machine
the same build averages seconds (README: the hall's figures): the fronts, the client and both
pools share two cores there; this is what a pool costs when it does not.
"""
from __future__ import annotations

import argparse
import json
import statistics
import threading
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()

    import ray
    from playground import corpora
    from playground.config import ModelConfig, TrainConfig
    from playground.limits import LIMITS
    from playground.ray_pool import TrainerPool

    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    pool = ray.remote(concurrency_groups={"weights": 2})(TrainerPool).options(max_concurrency=1, num_cpus=1).remote("p", 1)
    text, model, train = corpora.load("brackets", 100_000), ModelConfig(), TrainConfig()

    def build(run_id: str) -> float:
        t0 = time.monotonic()
        answer = ray.get(pool.add_run.remote(run_id, model, train, text, LIMITS, run_id, "brackets", {}), timeout=300)
        assert not isinstance(answer, str), answer      # a reason it could not be built
        return time.monotonic() - t0

    build("warm-up")                                   # the pool's process and its first imports
    idle = [build(f"idle{i}") for i in range(3)]
    while_training = []
    for i in range(args.runs):
        while_training.append(build(f"r{i}"))
        pool.call.remote(f"r{i}", "start", (1_000_000,))
    stop, reads = threading.Event(), []

    def reader(run_id: str) -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            ray.get(pool.snapshot_since.remote(run_id, 0, 0))
            reads.append(time.monotonic() - t0)
            time.sleep(1.0)

    threads = [threading.Thread(target=reader, args=(f"r{i}",), daemon=True) for i in range(args.runs)]
    for t in threads:
        t.start()
    time.sleep(args.seconds / 2)
    with_readers = [build(f"x{i}") for i in range(5)]
    time.sleep(args.seconds / 2)
    stop.set()
    for t in threads:
        t.join(5)
    reads.sort()
    out = {"runs": args.runs, "build_idle_s": [round(b, 3) for b in idle],
           "build_while_training_s": {"p50": round(statistics.median(while_training), 3), "max": round(max(while_training), 3)},
           "build_with_readers_s": [round(b, 3) for b in with_readers],
           "read_s": {"p50": round(statistics.median(reads), 3), "p95": round(reads[int(0.95 * (len(reads) - 1))], 3),
                      "n": len(reads)}}
    print(f"add_run idle {out['build_idle_s']} s; while 1..{args.runs} runs train p50 "
          f"{out['build_while_training_s']['p50']} s, max {out['build_while_training_s']['max']} s; with "
          f"{args.runs} runs training and {args.runs} readers at 1 Hz {out['build_with_readers_s']} s "
          f"(reads p50/p95 {out['read_s']['p50']}/{out['read_s']['p95']} s, n={len(reads)})")
    print(json.dumps(out))
    ray.shutdown()


if __name__ == "__main__":
    main()
