"""Payload size and build time of a 256-unit x 1000-step hidden-state heatmap.

Payload = len(plotly.io.to_json(fig, validate=False)), exactly what st.plotly_chart puts in
its message; build = heatmap_figure(...) + to_json. Targets: < 0.5 MB, < 50 ms.

    python benchmarks/heatmap_payload.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from playground.figures.hidden import heatmap_figure  # noqa: E402

T, H, REPEATS = 1000, 256, 7


def _best_ms(fn) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times)


def main() -> None:
    rng = np.random.default_rng(0)
    values = np.tanh(rng.normal(size=(T, H))).astype(np.float32)  # (T, H)
    tokens = list(("(()(()))\n" * (T // 9 + 1))[:T])

    def tolist_fig():  # the anti-pattern: float64 nested lists
        return go.Figure(go.Heatmap(z=values.T.astype(np.float64).tolist(), zmin=-1, zmax=1))

    cases = {
        "float64 .tolist()": tolist_fig,
        "float32 array": lambda: heatmap_figure(values, tokens, encoding="float32"),
        "uint8 array": lambda: heatmap_figure(values, tokens, encoding="uint8"),
    }
    print(f"heatmap {H} units x {T} steps; best of {REPEATS}")
    print(f"{'encoding':20s} {'payload MB':>10s} {'build ms':>9s} {'build+json ms':>14s}")
    for name, make in cases.items():
        payload = len(pio.to_json(make(), validate=False))
        build = _best_ms(make)
        total = _best_ms(lambda: pio.to_json(make(), validate=False))
        print(f"{name:20s} {payload / 1e6:10.3f} {build:9.1f} {total:14.1f}")


if __name__ == "__main__":
    main()
