"""Rerun time of the Shapes page after a control change, measured with AppTest.

Usage: python benchmarks/shapes_rerun.py [n_reruns]
Prints the median (and min/max) wall time of `at.run()` after changing hidden_size,
num_layers, bidirectional or cell in turn (the script run plus AppTest's own overhead).
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def measure(n: int = 10) -> list[float]:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page(str(ROOT / "pages" / "2_Shapes.py"))
    at.run()
    at.run()  # warm: imports and first figure builds done
    changes = [
        lambda i: at.number_input(key="shp_hidden_size").set_value(20 + i % 2),
        lambda i: at.number_input(key="shp_num_layers").set_value(2 + i % 2),
        lambda i: at.checkbox(key="shp_bidirectional").set_value(i % 2 == 0),
        lambda i: at.radio(key="shp_cell").set_value(["GRU", "LSTM"][i % 2]),
    ]
    times = []
    for i in range(n):
        changes[i % len(changes)](i)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, at.exception
    return times


if __name__ == "__main__":
    times = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
    ms = [t * 1000 for t in times]
    print(f"Shapes page rerun after a control change: median {statistics.median(ms):.0f} ms "
          f"(min {min(ms):.0f}, max {max(ms):.0f}, n={len(ms)})")
