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

class _FusedStepper:
    """The fast path. The prefix goes through the model's own nn.RNN/LSTM/GRU in one call;
    each later token through torch's fused one-step kernels (torch.lstm_cell, the kernel of
    nn.LSTMCell; gru_cell; rnn_tanh_cell / rnn_relu_cell) layer by layer, with the nn
    module's weights: for a single token, nn.LSTM's per-call overhead costs ~3x its
    arithmetic. Bidirectional stacks keep calling the nn module."""

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
        self.state = None  # nn's (L*D, 1, H), or (h_n, c_n) for LSTM
        self.h = self.c = None  # per layer (1, H), once stepping by layer

    def __call__(self, ids: list[int]) -> tuple[torch.Tensor, float]:
        x = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)
        if self.state is None or not self.by_layer:
            logits, self.state = self.model(x, self.state)             # (1, T, V)
            return logits[0, -1].cpu(), float("nan")                   # (V,)
        if self.h is None:
            h_n, c_n = self.state if isinstance(self.state, tuple) else (self.state, None)
            self.h, self.c = list(h_n), (list(c_n) if c_n is not None else None)  # each (1, H)
        layer_in = self.model.one_hot_or_embed(x)[:, 0]                # (1, I)
        for layer, w in enumerate(self.weights):
            if self.c is not None:
                self.h[layer], self.c[layer] = self.kernel(layer_in, (self.h[layer], self.c[layer]), *w)
            else:
                self.h[layer] = self.kernel(layer_in, self.h[layer], *w)  # (1, H)
            layer_in = self.h[layer]
        return self.model.head(layer_in)[0].cpu(), float("nan")        # (V,)


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
                w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
                x_proj = layer_in @ w_ih.T + (b_ih if b_ih is not None else 0)  # (1, G*H)
                clamp = self.clamp if self.clamp and (self.clamp.layer, self.clamp.direction) == (layer, d) else None
                values = cell_step(self.cell, x_proj, self.h[k], self.c[k], w_hh, b_hh, self.nonlinearity, clamp)
                self.h[k], self.c[k] = values["h"], values.get("c", self.c[k])
                if self.watch and (self.watch.layer, self.watch.direction) == (layer, d):
                    seen = float(values[self.watch.quantity][0, self.watch.unit])
                outs.append(self.h[k])
            layer_in = torch.cat(outs, dim=1)  # (1, D*H)
        return self.model.head(layer_in)[0].cpu(), seen  # (V,)

    def __call__(self, ids: list[int]) -> tuple[torch.Tensor, float]:
        for token_id in ids:
            logits, seen = self._token(token_id)
        return logits, seen


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


def _choose(logits: torch.Tensor, greedy: bool, temperature: float, top_k: int | None,
            gen: torch.Generator) -> int:
    """The next token id from logits (V,): argmax, or a draw from p = next_token_distribution
    by inverse CDF: u ~ U[0, 1), next = the first id whose cumulative probability exceeds u
    (same distribution as torch.multinomial, 3x cheaper for one draw)."""
    if greedy:
        return int(logits.argmax())
    cdf = next_token_distribution(logits, temperature, top_k).cumsum(0)  # (V,)
    u = torch.rand(1, generator=gen) * cdf[-1]  # scaled: cdf[-1] may round below 1
    return min(int(torch.searchsorted(cdf, u, right=True)), cdf.numel() - 1)


@torch.no_grad()
def generate_trace(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
                   top_k: int | None = None, greedy: bool = False, seed: int | None = None,
                   clamp: Clamp | None = None, watch: Watch | None = None,
                   top: int = TOP) -> GenerationTrace:
    """Generate `length` tokens after `prefix`, recording what the model saw at each step.

    `clamp` forces one unit during the whole run; `watch` (default: the clamped unit) is
    read out at every step. Either one switches to the layer-by-layer path.
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
    gen = torch.Generator(device="cpu")
    if seed is not None:
        gen.manual_seed(seed)
    else:
        gen.seed()
    step = _FusedStepper(model) if watch is None else _CellStepper(model, clamp, watch)
    ids = vocab[tokenize(prefix, _level(vocab))] or [vocab.unk]
    logits, seen = step(ids)                                          # (V,)
    out, all_logits, watched = [], torch.empty(length, logits.numel()), np.full(length, np.nan, np.float32)
    for t in range(length):
        all_logits[t], watched[t] = logits, seen
        out.append(_choose(logits, greedy, temperature, top_k, gen))
        if t < length - 1:
            logits, seen = step(out[-1:])
    model.train(was_training)
    probs = torch.softmax(all_logits, dim=-1)                        # (n, V)
    top_p, top_i = probs.topk(min(top, probs.shape[-1]), dim=-1)      # (n, top)
    chosen = probs.gather(1, torch.tensor(out, dtype=torch.long).view(-1, 1))[:, 0] if out else probs[:, 0]
    return GenerationTrace(prefix=prefix, tokens=vocab.to_tokens(out), ids=out,
                           top_tokens=[vocab.to_tokens(row) for row in top_i.tolist()],
                           top_probs=top_p.numpy().astype(np.float32),
                           chosen_probs=chosen.numpy().astype(np.float32),
                           watched=watched if watch else None, watch=watch, clamp=clamp)


def generate(model, vocab: Vocab, prefix: str, length: int, temperature: float = 1.0,
             top_k: int | None = None, greedy: bool = False, seed: int | None = None) -> str:
    """The continuation of `prefix` (without the prefix), `length` tokens long."""
    return generate_trace(model, vocab, prefix, length, temperature, top_k, greedy, seed).text
