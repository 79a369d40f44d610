"""Characters per second of `generate` (state carried, O(length)) against the naive loop
that re-feeds the whole prefix + generated text at every step (O(length^2)).

    python -m benchmarks.generate_speed [--length 2000] [--naive-length 300] [--repeats 3]

A 256-unit LSTM, embedding 32, vocab ~100 (string.printable), one thread. Weights are
untrained: the speed of a forward pass does not depend on them. The naive loop is timed on
fewer characters (it slows down as the text grows) and reported per character over that
length, so it is an upper bound on its speed at `--length`. Each figure is the median of
`--repeats` runs after a warm-up, in wall-clock time and in this process's CPU time (the
machine is shared: CPU time leaves out the time other processes held the core).
Also a bare PyTorch step-by-step sampling loop on the same model: the ratios to it do not
depend on the machine (tests/test_benchmarks.py checks them).
Targets: sampled >= 20,000 chars/s, greedy faster, the clamp path >= 5,000 chars/s.
"""
from __future__ import annotations

import argparse
import statistics
import string
import time

import torch

from playground.config import ModelConfig
from playground.generate import Clamp, generate, generate_trace
from playground.models import CharModel
from playground.vocab import Vocab

PREFIX = "def forward(self, x, state=None):\n    out, state = self.rnn(x, state)\n"


def build(hidden_size: int = 256, embedding_dim: int = 32) -> tuple[CharModel, Vocab]:
    vocab = Vocab(list(string.printable))
    torch.manual_seed(0)
    model = CharModel(ModelConfig(cell="LSTM", vocab_size=len(vocab), embedding_dim=embedding_dim,
                                  hidden_size=hidden_size))
    return model.eval(), vocab


@torch.no_grad()
def naive(model, vocab, prefix: str, length: int, seed: int = 0) -> str:
    """Re-feed everything each step, no state carried: what generate() avoids."""
    gen = torch.Generator().manual_seed(seed)
    ids = vocab[list(prefix)]
    for _ in range(length):
        logits, _ = model(torch.tensor([ids]))                        # (1, T, V), T grows
        probs = torch.softmax(logits[0, -1], dim=-1)                  # (V,)
        ids.append(int(torch.multinomial(probs, 1, generator=gen)))
    return "".join(vocab.to_tokens(ids[len(prefix):]))


@torch.no_grad()
def bare_step_loop(model, vocab, prefix: str, length: int, temperature: float = 0.8,
                   greedy: bool = False, seed: int = 0) -> str:
    """The sampling loop a PyTorch user would write: the same model (nn.Embedding, nn.LSTM,
    nn.Linear) fed one token at a time with its state carried, torch softmax + multinomial.
    The machine-independent yardstick for generate(): both run in the same process."""
    gen = torch.Generator().manual_seed(seed)
    logits, state = model(torch.tensor([vocab[list(prefix)]]))       # (1, T, V)
    ids = []
    for _ in range(length):
        probs = torch.softmax(logits[0, -1] / temperature, dim=-1)    # (V,)
        nxt = int(probs.argmax()) if greedy else int(torch.multinomial(probs, 1, generator=gen))
        ids.append(nxt)
        logits, state = model(torch.tensor([[nxt]]), state)           # (1, 1, V)
    return "".join(vocab.to_tokens(ids))


TARGETS = {"sampled": 20_000, "clamp": 5_000}


def chars_per_s(fn, length: int, repeats: int) -> tuple[float, float]:
    """(wall, CPU) chars/s: `length` over the median time of `repeats` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(length)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return length / statistics.median(wall), length / statistics.median(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=2000)
    ap.add_argument("--naive-length", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    model, vocab = build()
    print(f"LSTM hidden_size=256, embedding_dim=32, vocab={len(vocab)}, prefix {len(PREFIX)} chars, 1 thread")
    generate(model, vocab, PREFIX, 50, seed=0)  # warm-up
    rows = [
        ("generate, sampled (T=0.8)", args.length,
         lambda n: generate(model, vocab, PREFIX, n, temperature=0.8, seed=0)),
        ("generate, greedy", args.length, lambda n: generate(model, vocab, PREFIX, n, greedy=True)),
        ("generate_trace with a clamp (layer-by-layer path)", args.length // 4,
         lambda n: generate_trace(model, vocab, PREFIX, n, seed=0, clamp=Clamp(0, 0, 0.0))),
        ("naive: re-feed prefix + text every step", args.naive_length,
         lambda n: naive(model, vocab, PREFIX, n)),
        ("bare PyTorch step loop (state carried)", args.length // 4,
         lambda n: bare_step_loop(model, vocab, PREFIX, n)),
    ]
    speeds = {}
    for name, n, fn in rows:
        speeds[name] = chars_per_s(fn, n, args.repeats)
        print(f"{name:52s} {n:5d} chars  {speeds[name][0]:9,.0f} chars/s wall  {speeds[name][1]:9,.0f} CPU")
    sampled, greedy, clamp, slow, bare = (speeds[row[0]][0] for row in rows)
    print(f"ratio generate / bare step loop: sampled {sampled / bare:.1f}x, greedy {greedy / bare:.1f}x, "
          f"clamp path {clamp / bare:.2f}x")
    print(f"ratio generate / naive: {sampled / slow:.1f}x "
          f"(naive measured over {args.naive_length} chars; it only gets slower for longer texts)")
    for what, value, target in (("sampled", sampled, TARGETS["sampled"]), ("clamp path", clamp, TARGETS["clamp"])):
        print(f"target {what} >= {target:,} chars/s: {'met' if value >= target else 'NOT met'} ({value:,.0f} wall)")
    print(f"greedy faster than sampled: {'yes' if greedy > sampled else 'NO'} ({greedy / sampled:.2f}x)")

if __name__ == "__main__":
    main()
