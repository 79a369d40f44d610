"""Milliseconds of `probe()` (every layer's h, c and gates, top-5 guesses, loss, parity with
nn) on 1,000 characters through a 2-layer 256-unit LSTM, one thread.

    python -m benchmarks.probe_speed [--chars 1000] [--repeats 3]

The Hidden states page calls probe() on every refresh while a run trains (every 2 s), so
its cost is taken from training. Weights are untrained: speed does not depend on them.
Target: median < 100 ms, parity with nn <= 1e-5.
"""
from __future__ import annotations

import argparse
import statistics
import string
import time

import torch

from playground.config import ModelConfig
from playground.models import CharModel
from playground.probe import probe
from playground.vocab import Vocab

TARGET_MS = 100.0


def build(hidden_size: int = 256, num_layers: int = 2, cell: str = "LSTM") -> tuple[CharModel, Vocab]:
    vocab = Vocab(list(string.printable))
    torch.manual_seed(0)
    model = CharModel(ModelConfig(cell=cell, vocab_size=len(vocab), embedding_dim=32,
                                  hidden_size=hidden_size, num_layers=num_layers))
    return model.eval(), vocab


def sample_text(chars: int) -> str:
    """Code-like text with brackets, as the nesting-depth lab probes."""
    line = "def f(x, y):\n    return (x[0] + y[1]) * {'a': 1}\n"
    return (line * (chars // len(line) + 1))[:chars]


@torch.no_grad()
def forward_once(model, vocab, text: str):
    """One nn forward of the model over `text`: the yardstick for probe() (same process)."""
    return model(torch.tensor([vocab[list(text)]]))                  # (1, T, V)


def probe_ms(model, vocab, text: str, repeats: int) -> tuple[float, float, list[float]]:
    """(median wall ms, median CPU ms, wall times) over `repeats` calls after one warm-up."""
    probe(model, vocab, text)
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        result = probe(model, vocab, text)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    assert result.parity_max <= 1e-5, f"parity {result.parity_max:.2e} > 1e-5"
    return statistics.median(wall), statistics.median(cpu), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"probe(): {args.chars} chars, hidden_size=256, num_layers=2, 1 thread, "
          f"median of {args.repeats} after a warm-up")
    for cell in ("LSTM", "GRU", "RNN_TANH"):
        model, vocab = build(cell=cell)
        wall, cpu, times = probe_ms(model, vocab, sample_text(args.chars), args.repeats)
        runs = ", ".join(f"{t:.0f}" for t in times)
        t0 = time.perf_counter()
        forward_once(model, vocab, sample_text(args.chars))
        fwd = (time.perf_counter() - t0) * 1e3
        print(f"{cell:9s} median {wall:7.1f} ms wall ({runs}), {cpu:7.1f} ms CPU; "
              f"{wall / fwd:.1f}x one nn forward ({fwd:.1f} ms)")
        if cell == "LSTM":
            lstm_ms = wall
    print(f"target: LSTM < {TARGET_MS:.0f} ms: {'met' if lstm_ms < TARGET_MS else 'NOT met'} ({lstm_ms:.1f} ms)")


if __name__ == "__main__":
    main()
