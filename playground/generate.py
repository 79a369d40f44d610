"""Text generation: the one place that samples from a model.

Warm up on the prefix (one forward pass over it), then feed back one token at a time,
carrying the recurrent state, so generating n tokens costs O(n), not O(n^2):

    p(next) = softmax(logits / temperature), restricted to the top_k most likely tokens
    greedy: next = argmax(logits)

`generate_trace` is the sampling loop; it also records, at each step t, the model's
top candidates p_t = softmax(logits_t) (temperature 1, what the model believes), the
probability of the token it chose, and one watched unit's value. `generate` is its text.

Neuron clamp: `Clamp(layer, unit, value, quantity)` forces one unit of one quantity
(h; c with a cell state; or a gate) to `value` at every step — prefix included — and
everything computed from it in that step is recomputed. nn.LSTM cannot be opened mid-step, so
a clamped (or watched) model is stepped layer by layer with its cell type's torch step
(`playground/cells.py`) and the module's own weights. Without either, the fast path (a cell
type's numpy step: folded embedding, one fused matmul per layer, inverse-CDF sampling from
uniforms drawn up front) is used; its speed is measured by benchmarks/generate_speed.py
(README, Performance). The steppers live in `playground/steppers.py`.

The tokenizer is the vocab's (`Vocab.tokenizer`, set where the vocab is built from the
training config, and kept in checkpoints).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .cells import cell_type, cell_type_of
from .steppers import stepper
from .vocab import EOS, Vocab, detokenize, tokenize

TOP = 5  # candidates recorded per step


def _prefix_tokens(prefix: str, level: str) -> list[str]:
    """The prefix as tokens; a word_ws prefix ends where its text ends (no <eos> after an
    unfinished last line)."""
    tokens = tokenize(prefix, level)
    if level == "word_ws" and not prefix.endswith("\n") and tokens and tokens[-1] == EOS:
        tokens = tokens[:-1]
    return tokens


def next_token_distribution(logits: torch.Tensor, temperature: float = 1.0,
                            top_k: int | None = None) -> torch.Tensor:
    """Probabilities (V,) from the last logits (V,), after temperature and top-k."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = logits.float() / temperature
    if top_k is not None and 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.softmax(logits, dim=-1)


# ---- which unit: watch and clamp ---------------------------------------------------------

@dataclass(frozen=True)
class Watch:
    """One unit of one quantity inside the recurrent stack: "h"; "c" (with a cell state); or a
    gate ("i", "f", "g", "o" for LSTM; "r", "z", "n" for GRU): `unit_quantities`."""
    layer: int
    unit: int
    quantity: str = "h"
    direction: int = 0      # 1 = the reverse direction of a bidirectional layer

    def label(self) -> str:
        d = " reverse" if self.direction else ""
        return f"{self.quantity}[{self.unit}] of layer {self.layer}{d}"


@dataclass(frozen=True)
class Clamp:
    """Force `quantity`[`unit`] of `layer` to `value` at every step (value 0 = zero it)."""
    layer: int
    unit: int
    value: float = 0.0
    quantity: str = "h"
    direction: int = 0

    def watch(self) -> Watch:
        return Watch(self.layer, self.unit, self.quantity, self.direction)

    def label(self) -> str:
        return f"{self.watch().label()} clamped to {self.value:g}"


def unit_quantities(cell: str) -> list[str]:
    """What can be watched or clamped: "h", then "c" with a cell state, then the gates."""
    return cell_type(cell).quantities


def check_unit(rnn: torch.nn.RNNBase, where: Watch | Clamp) -> None:
    """ValueError with a clear message if `where` does not name a unit of `rnn`."""
    directions = 2 if rnn.bidirectional else 1
    quantities = cell_type_of(rnn).quantities
    if not 0 <= where.layer < rnn.num_layers:
        raise ValueError(f"layer must be in 0..{rnn.num_layers - 1} (num_layers={rnn.num_layers}), "
                         f"got {where.layer}")
    if not 0 <= where.unit < rnn.hidden_size:
        raise ValueError(f"unit must be in 0..{rnn.hidden_size - 1} (hidden_size={rnn.hidden_size}), "
                         f"got {where.unit}")
    if where.quantity not in quantities:
        raise ValueError(f"quantity must be one of {quantities} for {rnn.mode}, got {where.quantity!r}")
    if not 0 <= where.direction < directions:
        raise ValueError(f"direction must be 0{' or 1' if directions == 2 else ''}, got {where.direction}")
    if isinstance(where, Clamp) and not math.isfinite(where.value):
        raise ValueError(f"clamp value must be a finite number, got {where.value}")


# ---- the sampling loop -------------------------------------------------------------------

@dataclass
class GenerationTrace:
    prefix: str
    tokens: list[str]             # the n generated tokens
    ids: list[int]                # their ids
    top_tokens: list[list[str]]   # [t] the model's `top` likeliest tokens at step t
    top_probs: np.ndarray         # (n, top) their probabilities, softmax(logits_t), temperature 1
    chosen_probs: np.ndarray      # (n,) the model's probability of the token chosen at step t
    watched: np.ndarray | None    # (n,) the watched unit's value in the step that chose token t
    watch: Watch | None = None
    clamp: Clamp | None = None

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def _draw(logits: np.ndarray, u: float, temperature: float, top_k: int | None) -> int:
    """One sampled id from logits (V,) by inverse CDF, in numpy (a few µs for |V| ~ 100):
        w = exp((logits - max) / temperature), zero outside the top_k largest,
        next = the first id whose cumulative weight exceeds u * sum(w),   u ~ U[0, 1)
    i.e. a draw from p = next_token_distribution (same distribution as torch.multinomial)."""
    z = logits - logits.max()  # (V,)
    z *= 1.0 / temperature
    if top_k is not None and 0 < top_k < z.size:
        z[z < np.partition(z, -top_k)[-top_k]] = -np.inf
    cdf = np.exp(z, out=z).cumsum()  # (V,)
    return min(int(cdf.searchsorted(u * cdf[-1], "right")), z.size - 1)


def _uniforms(length: int, greedy: bool, seed: int | None) -> np.ndarray | None:
    """The run's random stream: one u ~ U[0, 1) per sampled token, all drawn up front from a
    torch.Generator seeded with `seed` (the same numbers as drawing torch.rand(1) at each
    step); greedy decoding draws none."""
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    return None if greedy else torch.rand(length, generator=gen).numpy()  # (length,) float32


def generate_trace(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
                   top_k: int | None = None, greedy: bool = False, seed: int | None = None,
                   clamp: Clamp | None = None, watch: Watch | None = None,
                   top: int = TOP) -> GenerationTrace:
    """Generate `length` tokens after `prefix`, recording what the model saw at each step.

    `clamp` forces one unit during the whole run; `watch` (default: the clamped unit) is
    read out at every step. Either one switches to the layer-by-layer path.

    Random stream: token t is drawn with the t-th number of torch.rand(length) from a
    torch.Generator seeded with `seed` (the numbers one torch.rand(1) per step gives), by
    inverse CDF (`_draw`). The fast path (folded embedding, numpy cell equations and
    sampling) rounds differently from stepping nn.LSTM, ~1e-7 relative, so a seed gives the
    same text as the plain nn path unless a cumulative probability lands within rounding of
    its u (not seen in the tests' runs: every cell, one-hot, 2 layers).
    """
    watch = watch or (clamp.watch() if clamp else None)
    out, all_logits, watched = _run(model, vocab, prefix, length, temperature, top_k, greedy, seed, clamp, watch)
    probs = torch.softmax(all_logits, dim=-1)                         # (n, V)
    top_p, top_i = probs.topk(min(top, probs.shape[-1]), dim=-1)      # (n, top)
    chosen = probs.gather(1, torch.tensor(out, dtype=torch.long).view(-1, 1))[:, 0] if out else probs[:, 0]
    return GenerationTrace(prefix=prefix, tokens=vocab.to_tokens(out), ids=out,
                           top_tokens=[vocab.to_tokens(row) for row in top_i.tolist()],
                           top_probs=top_p.numpy().astype(np.float32),
                           chosen_probs=chosen.numpy().astype(np.float32),
                           watched=watched if watch else None, watch=watch, clamp=clamp)


def generate(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
             top_k: int | None = None, greedy: bool = False, seed: int | None = None) -> str:
    """The continuation of `prefix` (without the prefix), `length` tokens long: the text of
    `generate_trace` with the same arguments, without recording the candidates."""
    out, _, _ = _run(model, vocab, prefix, length, temperature, top_k, greedy, seed, None, None)
    level = vocab.tokenizer
    text = detokenize(vocab.to_tokens(out), level)
    return " " + text if level == "word_ws" and text and not text.startswith("\n") else text


def _run(model, vocab, prefix, length, temperature, top_k, greedy, seed, clamp, watch):
    """Checked arguments, eval mode and no autograd around `_sample_loop`."""
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for where in (clamp, watch):
        if where is not None:
            check_unit(model.rnn, where)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return _sample_loop(model, vocab, prefix, length, temperature, top_k, greedy, seed, clamp, watch)
    finally:
        model.train(was_training)


def _sample_loop(model, vocab, prefix, length, temperature, top_k, greedy, seed, clamp, watch):
    """Token ids (length,), the logits of each step (length, V), the watched unit (length,)."""
    u = _uniforms(length, greedy, seed)
    step = stepper(model, clamp, watch)
    ids = vocab[_prefix_tokens(prefix, vocab.tokenizer)] or [vocab.unk]
    all_logits = torch.empty(max(length, 1), model.head.out_features)  # (n, V)
    rows, watched = all_logits.numpy(), np.full(max(length, 1), np.nan, np.float32)
    rows[0], watched[0] = step(ids)
    out = []
    for t in range(length):
        out.append(int(rows[t].argmax()) if greedy else _draw(rows[t], u[t], temperature, top_k))
        if t < length - 1:
            rows[t + 1], watched[t + 1] = step(out[-1:])
    return out, all_logits[:length], watched[:length]
