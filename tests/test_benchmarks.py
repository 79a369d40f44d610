"""Gross-regression checks for the performance figures in the README (benchmarks/): they fail
only below half of a target, on CPU time (process_time: time other processes hold the core
is not counted), best of a few short repeats, so a busy CI machine does not fail them.

The first-page figure's regression check is that Home imports no torch
(tests/test_warmup.py::test_home_renders_without_importing_torch)."""
from __future__ import annotations

import time

import pytest
import torch

from benchmarks import generate_speed, probe_speed
from playground.generate import Clamp, generate, generate_trace
from playground.probe import probe

torch.set_num_threads(1)


def best_cpu_seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


@pytest.fixture(scope="module")
def lstm256():
    return generate_speed.build()  # 256-unit LSTM, embedding 32, |V| = 101


def test_generation_is_at_least_half_its_target_speed(lstm256):
    model, vocab = lstm256
    n = 1000
    sampled = n / best_cpu_seconds(lambda: generate(model, vocab, generate_speed.PREFIX, n, temperature=0.8, seed=0))
    greedy = n / best_cpu_seconds(lambda: generate(model, vocab, generate_speed.PREFIX, n, greedy=True))
    assert sampled >= generate_speed.TARGETS["sampled"] / 2, f"sampled {sampled:,.0f} chars/s"
    assert greedy >= generate_speed.TARGETS["sampled"] / 2, f"greedy {greedy:,.0f} chars/s"


def test_clamp_path_is_at_least_half_its_target_speed(lstm256):
    model, vocab = lstm256
    n = 250
    speed = n / best_cpu_seconds(
        lambda: generate_trace(model, vocab, generate_speed.PREFIX, n, seed=0, clamp=Clamp(0, 0, 0.0)), repeats=2)
    assert speed >= generate_speed.TARGETS["clamp"] / 2, f"clamp path {speed:,.0f} chars/s"


def test_probe_is_within_twice_its_target_time():
    model, vocab = probe_speed.build()  # 2-layer 256-unit LSTM
    text = probe_speed.sample_text(1000)
    ms = 1e3 * best_cpu_seconds(lambda: probe(model, vocab, text), repeats=2)
    assert ms <= 2 * probe_speed.TARGET_MS, f"probe {ms:.0f} ms"
    assert probe(model, vocab, text).parity_max <= 1e-5
