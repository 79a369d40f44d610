"""Text generation: the one place that samples from a model.

Warm up on the prefix (one forward pass over it), then feed back one token at a time,
carrying the recurrent state, so generating n tokens costs O(n), not O(n^2):

    p(next) = softmax(logits / temperature), restricted to the top_k most likely tokens
    greedy: next = argmax(logits)

`generate_trace` is the sampling loop; it also records, at each step t, the model's
top candidates p_t = softmax(logits_t) (temperature 1, what the model believes), the
probability of the token it chose, and one watched unit's value. `generate` is its text.

Neuron clamp: `Clamp(layer, unit, value, quantity)` forces one unit of one quantity
(h; c for LSTM; or a gate) to `value` at every step — prefix included — and everything
computed from it in that step is recomputed. nn.LSTM cannot be opened mid-step, so a
clamped (or watched) model is stepped layer by layer with the cell equations of
`playground/cells.py` and the nn module's own weights; without either, the fast fused
nn path is used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .cells import CELL_GATES, gru_step, lstm_step, normalize_cell, rnn_step
from .vocab import Vocab, tokenize

TOP = 5  # candidates recorded per step


def _level(vocab: Vocab) -> str:
    """Word-level vocabs hold multi-character tokens."""
    return "word" if any(len(t) > 1 for t in vocab.idx_to_token[1 + len(vocab.reserved_tokens):]) else "char"


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
    """One unit of one quantity inside the recurrent stack: "h"; "c" (LSTM); or a gate
    ("i", "f", "g", "o" for LSTM; "r", "z", "n" for GRU)."""
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
    """What can be watched or clamped: "h", then "c" for LSTM, then the gates."""
    name, _ = normalize_cell(cell)
    gates = [g for g in CELL_GATES[name] if g != "h"]
    return ["h"] + (["c"] if name == "LSTM" else []) + gates


def check_unit(rnn: torch.nn.RNNBase, where: Watch | Clamp) -> None:
    """ValueError with a clear message if `where` does not name a unit of `rnn`."""
    directions = 2 if rnn.bidirectional else 1
    quantities = unit_quantities(rnn.mode)
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


# ---- stepping the model ------------------------------------------------------------------

class _FoldedStepper:
    """The fast path. The prefix goes through the model's own nn.RNN/LSTM/GRU in one call;
    each later token through torch's fused one-step kernels (torch.lstm_cell, the kernel of
    nn.LSTMCell; gru_cell; rnn_tanh_cell / rnn_relu_cell) layer by layer, with the nn
    module's weights: for a single token, nn.LSTM's per-call overhead costs ~3x its
    arithmetic.

    The embedding is folded into layer 0's input projection: every token's
        table[v] = W_ih,0 e_v + b_ih,0            (|V|, G*H),  e_v = embedding or one-hot row
    is computed once, so a step looks up one row and passes it to the kernel as its input
    bias, with a zero-width input (W_ih x = 0): the kernel computes the same gates as nn.
    Per step that leaves one kernel call per layer and one addmm for the head, written
    straight into the caller's logits row. Bidirectional or projected stacks keep calling
    the nn module."""

    CELL_KERNELS = {"LSTM": torch.lstm_cell, "GRU": torch.gru_cell,
                    "RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell}

    def __init__(self, model):
        self.model, rnn = model, model.rnn
        self.device = next(model.parameters()).device
        self.kernel = self.CELL_KERNELS[rnn.mode]
        self.weights = [[getattr(rnn, f"{name}_l{layer}", None)
                         for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
                        for layer in range(rnn.num_layers)]
        self.by_layer = not rnn.bidirectional and not getattr(rnn, "proj_size", 0)
        self.state = None  # nn's (L*D, 1, H), or (h_n, c_n) for LSTM, until stepping by layer
        self.h = self.c = None  # per layer (1, H), once stepping by layer
        if self.by_layer:
            self._fold()

    def _fold(self) -> None:
        w_ih, w_hh, b_ih, b_hh = self.weights[0]
        ids = torch.arange(self.model.head.out_features, device=w_ih.device)  # (V,)
        inputs = self.model.one_hot_or_embed(ids[None])[0]                   # (V, I)
        self.table = torch.nn.functional.linear(inputs, w_ih, b_ih)          # (V, G*H)
        self.no_input = inputs.new_zeros(1, 0)                               # (1, 0)
        self.weights[0] = [w_ih.new_zeros(w_ih.shape[0], 0), w_hh, None, b_hh]  # W_ih: (G*H, 0)
        self.head_t = self.model.head.weight.t()                             # (D*H, V)
        self.head_b = self.model.head.bias

    def _head(self, h: torch.Tensor, out: torch.Tensor) -> None:
        """logits = h W^T + b into `out` (1, V), a CPU row."""
        if h.device == out.device and self.head_b is not None:
            torch.addmm(self.head_b, h, self.head_t, out=out)               # (1, V)
        else:
            out.copy_(self.model.head(h))                                    # (1, V)

    def __call__(self, ids: list[int], out: torch.Tensor) -> float:
        if self.state is None or not self.by_layer:
            x = torch.tensor([ids], dtype=torch.long, device=self.device)   # (1, T)
            logits, self.state = self.model(x, self.state)                   # (1, T, V)
            out.copy_(logits[:, -1])                                         # (1, V)
            return float("nan")
        if self.h is None:
            h_n, c_n = self.state if isinstance(self.state, tuple) else (self.state, None)
            self.h, self.c = list(h_n), (list(c_n) if c_n is not None else None)  # each (1, H)
        layer_in, (w_ih, w_hh, _, b_hh) = self.no_input, self.weights[0]
        self._layer(0, layer_in, w_ih, w_hh, self.table[ids[-1]], b_hh)      # bias: (G*H,)
        for layer in range(1, len(self.weights)):
            self._layer(layer, self.h[layer - 1], *self.weights[layer])
        self._head(self.h[-1], out)
        return float("nan")

    def _layer(self, layer: int, x, w_ih, w_hh, b_ih, b_hh) -> None:
        if self.c is not None:
            self.h[layer], self.c[layer] = self.kernel(x, (self.h[layer], self.c[layer]), w_ih, w_hh, b_ih, b_hh)
        else:
            self.h[layer] = self.kernel(x, self.h[layer], w_ih, w_hh, b_ih, b_hh)  # (1, H)


class _CellStepper:
    """The open path: every layer stepped with the cell equations, one unit clamped and/or
    one unit read out at each step."""

    def __init__(self, model, clamp: Clamp | None, watch: Watch | None):
        self.model, self.rnn = model, model.rnn
        self.cell, self.nonlinearity = normalize_cell(self.rnn.mode)
        self.clamp, self.watch = clamp, watch
        self.D = 2 if self.rnn.bidirectional else 1
        p = next(model.parameters())
        zeros = [p.new_zeros(1, self.rnn.hidden_size) for _ in range(self.rnn.num_layers * self.D)]
        self.h, self.c = list(zeros), list(zeros)  # per (layer * D + direction): (1, H)
        self.weights = [[self._weights(layer, d) for d in range(self.D)] for layer in range(self.rnn.num_layers)]

    def _weights(self, layer: int, direction: int):
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        return [getattr(self.rnn, name + sfx, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def _token(self, token_id: int) -> tuple[torch.Tensor, float]:
        x = torch.tensor([[token_id]], device=self.h[0].device)      # (1, 1)
        layer_in = self.model.one_hot_or_embed(x)[:, 0].float()      # (1, I)
        seen = float("nan")
        for layer in range(self.rnn.num_layers):
            outs = []
            for d in range(self.D):
                k = layer * self.D + d
                w_ih, w_hh, b_ih, b_hh = self.weights[layer][d]
                x_proj = layer_in @ w_ih.T if b_ih is None else torch.addmm(b_ih, layer_in, w_ih.T)  # (1, G*H)
                clamp = self.clamp if self.clamp and (self.clamp.layer, self.clamp.direction) == (layer, d) else None
                values = cell_step(self.cell, x_proj, self.h[k], self.c[k], w_hh, b_hh, self.nonlinearity, clamp)
                self.h[k], self.c[k] = values["h"], values.get("c", self.c[k])
                if self.watch and (self.watch.layer, self.watch.direction) == (layer, d):
                    seen = float(values[self.watch.quantity][0, self.watch.unit])
                outs.append(self.h[k])
            layer_in = outs[0] if self.D == 1 else torch.cat(outs, dim=1)  # (1, D*H)
        return self.model.head(layer_in), seen  # (1, V)

    def __call__(self, ids: list[int], out: torch.Tensor) -> float:
        for token_id in ids:
            logits, seen = self._token(token_id)
        out.copy_(logits)  # (1, V)
        return seen


def _set_unit(v: torch.Tensor, unit: int, value: float) -> torch.Tensor:
    v = v.clone()
    v[:, unit] = value
    return v


def cell_step(cell: str, x_proj, h, c, w_hh, b_hh, nonlinearity: str = "tanh",
              clamp: Clamp | None = None) -> dict:
    """One step of one layer, {"h", "c" (LSTM), gates...} each (1, H), with `clamp` applied.

    The step is cells.py's; a clamped gate or c is then pushed through the rest of the step:
        LSTM  c_t = f_t * c_{t-1} + i_t * g_t,   h_t = o_t * tanh(c_t)
        GRU   n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn)),
              h_t = (1 - z_t) * n_t + z_t * h_{t-1}
    and a clamped h is set last.
    """
    if cell == "LSTM":
        h_new, c_new, gates = lstm_step(x_proj, h, c, w_hh, b_hh)
    elif cell == "GRU":
        h_new, gates = gru_step(x_proj, h, w_hh, b_hh)
    else:
        h_new, gates = rnn_step(x_proj, h, w_hh, b_hh, nonlinearity)
    q = clamp.quantity if clamp else None
    if q in gates:
        gates = {**gates, q: _set_unit(gates[q], clamp.unit, clamp.value)}
        if cell == "LSTM":
            c_new = gates["f"] * c + gates["i"] * gates["g"]  # (1, H)
        else:  # GRU
            if q == "r":
                h_proj = h @ w_hh.T + (b_hh if b_hh is not None else 0)  # (1, 3H)
                gates["n"] = torch.tanh(x_proj.chunk(3, dim=1)[2] + gates["r"] * h_proj.chunk(3, dim=1)[2])
            h_new = (1 - gates["z"]) * gates["n"] + gates["z"] * h  # (1, H)
    if q == "c":
        c_new = _set_unit(c_new, clamp.unit, clamp.value)
    if cell == "LSTM" and q in ("c", *gates):
        h_new = gates["o"] * torch.tanh(c_new)  # (1, H)
    if q == "h":
        h_new = _set_unit(h_new, clamp.unit, clamp.value)
    return {"h": h_new, **({"c": c_new} if cell == "LSTM" else {}), **gates}


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
    z = (logits - logits.max()) * (1.0 / temperature)  # (V,)
    if top_k is not None and 0 < top_k < z.size:
        z[z < np.partition(z, -top_k)[-top_k]] = -np.inf
    cdf = np.cumsum(np.exp(z, out=z))  # (V,)
    return min(int(np.searchsorted(cdf, u * cdf[-1], side="right")), z.size - 1)


def _choose(logits: torch.Tensor, greedy: bool, temperature: float, top_k: int | None,
            gen: torch.Generator) -> int:
    """The next token id from logits (V,): argmax, or `_draw` with one u ~ U[0, 1) from `gen`."""
    row = logits.detach().cpu().float().numpy()
    if greedy:
        return int(row.argmax())
    return _draw(row, torch.rand(1, generator=gen).numpy()[0], temperature, top_k)


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
    generator seeded with `seed`, by inverse CDF (`_draw`). Since the fast path (folded
    embedding, numpy sampling) replaced per-step torch calls, the text for a seed is the one
    produced before except where float rounding moves a cumulative probability across u
    (~1e-7 relative; not seen in the tests' runs).
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    watch = watch or (clamp.watch() if clamp else None)
    for where in (clamp, watch):
        if where is not None:
            check_unit(model.rnn, where)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out, all_logits, watched = _sample_loop(model, vocab, prefix, length, temperature,
                                                    top_k, greedy, seed, clamp, watch)
    finally:
        model.train(was_training)
    return _trace(vocab, prefix, out, all_logits, watched if watch else None, watch, clamp, top)


def _sample_loop(model, vocab, prefix, length, temperature, top_k, greedy, seed, clamp, watch):
    """Token ids (length,), the logits of each step (length, V), the watched unit (length,)."""
    u = _uniforms(length, greedy, seed)
    step = _FoldedStepper(model) if watch is None else _CellStepper(model, clamp, watch)
    ids = vocab[tokenize(prefix, _level(vocab))] or [vocab.unk]
    all_logits = torch.empty(max(length, 1), model.head.out_features, dtype=model.head.weight.dtype)  # (n, V)
    rows, watched = all_logits.numpy(), np.full(max(length, 1), np.nan, np.float32)
    watched[0] = step(ids, all_logits[:1])
    out = []
    for t in range(length):
        out.append(int(rows[t].argmax()) if greedy else _draw(rows[t], u[t], temperature, top_k))
        if t < length - 1:
            watched[t + 1] = step(out[-1:], all_logits[t + 1:t + 2])
    return out, all_logits[:length], watched[:length]


def _trace(vocab, prefix, out, all_logits, watched, watch, clamp, top) -> GenerationTrace:
    probs = torch.softmax(all_logits.float(), dim=-1)                 # (n, V)
    top_p, top_i = probs.topk(min(top, probs.shape[-1]), dim=-1)      # (n, top)
    chosen = probs.gather(1, torch.tensor(out, dtype=torch.long).view(-1, 1))[:, 0] if out else probs[:, 0]
    return GenerationTrace(prefix=prefix, tokens=vocab.to_tokens(out), ids=out,
                           top_tokens=[vocab.to_tokens(row) for row in top_i.tolist()],
                           top_probs=top_p.numpy().astype(np.float32),
                           chosen_probs=chosen.numpy().astype(np.float32),
                           watched=watched, watch=watch, clamp=clamp)


def generate(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
             top_k: int | None = None, greedy: bool = False, seed: int | None = None) -> str:
    """The continuation of `prefix` (without the prefix), `length` tokens long."""
    return generate_trace(model, vocab, prefix, length, temperature, top_k, greedy, seed).text
