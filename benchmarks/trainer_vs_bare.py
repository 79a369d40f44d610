"""Our Trainer's tokens/s next to a bare PyTorch loop on the same config, in one process.

    python benchmarks/trainer_vs_bare.py [--steps 60] [--repeats 3] [--cell LSTM]

Both run one thread, the same model, optimizer, clipping, batches and carried state; runs
alternate (bare, trainer, bare, trainer, ...) so machine noise hits both. Prints the median
tokens/s of each and the ratio trainer / bare (target >= 0.95).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from playground import corpora
from playground.config import ModelConfig, TrainConfig
from playground.models import CharModel, detach_state
from playground.sampling import consecutive_batches
from playground.train import Trainer


def bare_loop(model_config: ModelConfig, train_config: TrainConfig, ids: torch.Tensor, steps: int,
              clock=time.perf_counter) -> float:
    """The loop a PyTorch user would write by hand; returns tokens per second of `clock`
    (wall time by default; tests pass time.thread_time, this thread's CPU time)."""
    torch.manual_seed(train_config.seed)
    model = CharModel(model_config)
    opt = torch.optim.Adam(model.parameters(), lr=train_config.lr)
    batches = consecutive_batches(ids, train_config.batch_size, train_config.seq_len)
    state, tokens = None, 0
    t0 = clock()
    for _ in range(steps):
        X, Y = next(batches)                                   # (B, T)
        logits, state = model(X, state)                        # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train_config.clip)
        opt.step()
        state = detach_state(state)
        tokens += X.numel()
    return tokens / (clock() - t0)


def trainer_loop(model_config: ModelConfig, train_config: TrainConfig, text: str, steps: int,
                 clock=time.perf_counter) -> float:
    """Our Trainer on the same config; tokens per second of `clock`."""
    trainer = Trainer(model_config, train_config, text)      # built outside the timed part
    t0 = clock()
    metrics = trainer.train_steps(steps)
    return sum(m.tokens for m in metrics) / (clock() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cell", default="LSTM")
    ap.add_argument("--hidden-size", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(1)
    text = corpora.load("brackets", 400_000)
    mc = ModelConfig(cell=args.cell, hidden_size=args.hidden_size, embedding_dim=32)
    tc = TrainConfig(seq_len=64, batch_size=32, lr=3e-3, clip=1.0, val_fraction=0.0)
    trainer = Trainer(mc, tc, text)
    ids, mc = trainer.train_ids, trainer.model_config
    bare_loop(mc, tc, ids, 5), trainer_loop(mc, tc, text, 5)  # warm-up
    bare, ours = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop(mc, tc, ids, args.steps))
        ours.append(trainer_loop(mc, tc, text, args.steps))
    b, o = statistics.median(bare), statistics.median(ours)
    print(f"config: {args.cell} hidden_size={args.hidden_size} embedding_dim=32 seq_len=64 batch_size=32, "
          f"1 thread, {args.steps} steps x {args.repeats}")
    print(f"bare PyTorch loop : {b:10,.0f} tokens/s")
    print(f"playground Trainer: {o:10,.0f} tokens/s")
    print(f"ratio Trainer/bare: {o / b:.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
