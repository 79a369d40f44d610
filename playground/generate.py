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
`playground/cells.py` and the nn module's own weights. Without either, the fast path
(`_NumpyStepper`: folded embedding, one fused matmul per layer, numpy cell equations and
inverse-CDF sampling from uniforms drawn up front) is used; its speed is measured by
benchmarks/generate_speed.py (README, Performance).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .cells import CELL_GATES, gru_step, layer_weights, lstm_step, normalize_cell, rnn_step
from .vocab import EOS, Vocab, detokenize, tokenize

TOP = 5  # candidates recorded per step


def _level(vocab: Vocab) -> str:
    """Word-level vocabs hold multi-character tokens; whitespace-split ones (word_ws) hold <eos>."""
    words = vocab.idx_to_token[1 + len(vocab.reserved_tokens):]
    if EOS in words:
        return "word_ws"
    return "word" if any(len(t) > 1 for t in words) else "char"


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

class _ModuleStepper:
    """The general path: the model's own nn.RNN/LSTM/GRU, state carried, one call for the
    prefix and one per token (a GPU, bidirectional or projected stacks, other dtypes)."""

    def __init__(self, model):
        self.model, self.state = model, None  # nn's (L*D, 1, H), or (h_n, c_n) for LSTM
        self.device = next(model.parameters()).device

    def __call__(self, ids: list[int]) -> tuple[np.ndarray, float]:
        x = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)
        logits, self.state = self.model(x, self.state)                 # (1, T, V)
        return logits[0, -1].float().cpu().numpy(), float("nan")       # (V,)


class _NumpyStepper:
    """The fast path, for a unidirectional stack on the CPU in float32. The prefix goes
    through the nn module in one call. Each later token costs one fused torch matmul per
    layer, written into a preallocated buffer, and the cell's elementwise equations in numpy
    on views of the same memory (a numpy op on a few hundred floats costs a fraction of a
    torch op's dispatch; nn.LSTM's per-call overhead is ~3x a token's arithmetic). Layer l's
    new h_l feeds two products, so they are one matmul:

        [W_hh,l h_l + b_hh,l  |  W_ih,l+1 h_l + b_x,l+1  (or W_head h_l + b_head on top)]
         its own next step       layer l+1's input now      the logits of the next token

    The embedding is folded into layer 0's input projection: every token's row
        table[v] = W_ih,0 e_v + b_ih,0 (+ b_hh,0, except GRU)    (|V|, G*H),  e_v = embedding | one-hot
    is computed once, so a step looks up one row. LSTM gate rows are reordered
    (i, f, g, o) -> (i, f, o, g) so that the three sigmoids are one slice:

        LSTM  c = f * c + i * g,  h = o * tanh(c)
        GRU   n = tanh(x_n + r * (W_hn h + b_hn)),  h = n + z * (h - n)
        RNN   h = tanh(pre) | relu(pre)
    """

    def __init__(self, model):
        rnn, H = model.rnn, model.rnn.hidden_size
        G = {"LSTM": 4, "GRU": 3}.get(rnn.mode, 1)
        order = torch.cat([torch.arange(2 * H), torch.arange(3 * H, 4 * H), torch.arange(2 * H, 3 * H)]) \
            if rnn.mode == "LSTM" else torch.arange(G * H)                       # (G*H,) gate rows
        inputs = model.one_hot_or_embed(torch.arange(model.head.out_features)[None])[0]  # (V, I)
        b_x = _biases(rnn, 0, order)[0]
        self.table = torch.nn.functional.linear(inputs, rnn.weight_ih_l0[order], b_x).numpy()  # (V, G*H)
        self.layers = [self._layer(rnn, layer, order, model.head) for layer in range(rnn.num_layers)]
        self.cell_step = {"LSTM": _lstm_np, "GRU": _gru_np, "RNN_TANH": _rnn_tanh_np, "RNN_RELU": _rnn_relu_np}[rnn.mode]
        self.prefix = _ModuleStepper(model)

    @staticmethod
    def _layer(rnn, layer: int, order: torch.Tensor, head) -> tuple:
        """(fused weight (H, G*H + N), its bias (G*H + N,), h and z as torch (1, n) tensors,
        then numpy views: h, c, z's own-gates part (G*H,), its output part (N,), scratch)."""
        H, GH = rnn.hidden_size, len(order)
        w_hh = layer_weights(rnn, layer)[1][order]                                 # (G*H, H)
        b_h = _biases(rnn, layer, order)[1]
        if layer + 1 < rnn.num_layers:
            w_out = layer_weights(rnn, layer + 1)[0][order]                        # (G*H, H)
            b_out = _biases(rnn, layer + 1, order)[0]
        else:
            w_out, b_out = head.weight, head.bias                                  # (V, H), (V,)
        weight = torch.cat([w_hh, w_out]).t().contiguous()                         # (H, G*H + N)
        bias = torch.cat([torch.zeros(GH) if b_h is None else b_h, b_out])         # (G*H + N,)
        h_t, z_t = torch.zeros(1, H), torch.zeros(1, len(bias))
        z = z_t[0].numpy()
        return (weight, bias, h_t, z_t, h_t[0].numpy(), np.zeros(H, np.float32), z[:GH], z[GH:],
                np.zeros(H, np.float32))

    def _start(self, ids: list[int]) -> tuple[np.ndarray, float]:
        """The prefix through the nn module; its final state into the buffers, and each
        layer's W_hh h for the first step."""
        logits, _ = self.prefix(ids)
        state = self.prefix.state
        h_n, c_n = state if isinstance(state, tuple) else (state, None)  # each (L, 1, H)
        for layer, (weight, bias, h_t, z_t, h, c, *_) in enumerate(self.layers):
            h[:] = h_n[layer, 0].numpy()
            if c_n is not None:
                c[:] = c_n[layer, 0].numpy()
            torch.addmm(bias, h_t, weight, out=z_t)                       # (1, G*H + N)
        self.prefix = None
        return logits, float("nan")

    def __call__(self, ids: list[int]) -> tuple[np.ndarray, float]:
        if self.prefix is not None:
            return self._start(ids)
        x = self.table[ids[-1]]                                  # W_ih e + b_x: (G*H,), one row
        for weight, bias, h_t, z_t, h, c, hg, out, tmp in self.layers:
            self.cell_step(x, hg, h, c, tmp)                     # h (and c) updated in place
            torch.addmm(bias, h_t, weight, out=z_t)              # [hg for t+1 | next input or logits]
            x = out
        return x, float("nan")                                   # (V,) the logits


def _biases(rnn, layer: int, order: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(b_x, b_h) added to W_ih x and to W_hh h, gate rows in `order`. LSTM and RNN add both
    biases on the input side (b_h None); GRU keeps b_hn inside r * (W_hn h + b_hn)."""
    _, _, b_ih, b_hh = layer_weights(rnn, layer)
    b_ih, b_hh = b_ih[order], b_hh[order]
    return (b_ih, b_hh) if rnn.mode == "GRU" else (b_ih + b_hh, None)


def _sigmoid_(a: np.ndarray) -> None:
    """a <- 1 / (1 + exp(-a)), in place."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def _lstm_np(xg, hg, h, c, tmp) -> None:
    """hg: W_hh h (H-blocks i, f, o, g), xg: W_ih x + biases; h, c updated in place."""
    H = h.size
    hg += xg                                      # pre-activations (4H,)
    _sigmoid_(hg[:3 * H])                         # i, f, o
    g = np.tanh(hg[3 * H:], out=hg[3 * H:])
    np.multiply(hg[:H], g, out=tmp)               # i * g
    c *= hg[H:2 * H]
    c += tmp                                      # c = f * c + i * g
    np.tanh(c, out=h)
    h *= hg[2 * H:3 * H]                          # h = o * tanh(c)


def _gru_np(xg, hg, h, c, tmp) -> None:
    """hg: W_hh h + b_hh (r, z, n), xg: W_ih x + b_ih; h updated in place."""
    H = h.size
    rz = hg[:2 * H]
    rz += xg[:2 * H]
    _sigmoid_(rz)                                 # r, z
    n = np.multiply(rz[:H], hg[2 * H:], out=tmp)  # r * (W_hn h + b_hn)
    n += xg[2 * H:]
    np.tanh(n, out=n)
    h -= n
    h *= rz[H:]
    h += n                                        # h = (1 - z) * n + z * h


def _rnn_tanh_np(xg, hg, h, c, tmp) -> None:
    np.tanh(np.add(hg, xg, out=hg), out=h)


def _rnn_relu_np(xg, hg, h, c, tmp) -> None:
    np.maximum(np.add(hg, xg, out=hg), 0, out=h)


def _stepper(model, clamp: Clamp | None, watch: Watch | None):
    """The open path when a unit is clamped or watched; else the numpy path where it applies
    (CPU, float32, one direction, no projection, biases); else the nn module."""
    if watch is not None:
        return _CellStepper(model, clamp, watch)
    rnn = model.rnn
    plain = not rnn.bidirectional and not getattr(rnn, "proj_size", 0) and rnn.bias and model.head.bias is not None
    cpu32 = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    return _NumpyStepper(model) if plain and cpu32 else _ModuleStepper(model)


class _CellStepper:
    """The open path: every layer stepped with the cell equations, one unit clamped and/or
    one unit read out at each step. Layer 0's input projection is a row of the folded table
    W_ih e_v + b_ih (see _NumpyStepper)."""

    def __init__(self, model, clamp: Clamp | None, watch: Watch | None):
        self.model, self.rnn = model, model.rnn
        self.cell, self.nonlinearity = normalize_cell(self.rnn.mode)
        self.clamp, self.watch = clamp, watch
        self.D = 2 if self.rnn.bidirectional else 1
        p = next(model.parameters())
        zeros = [p.new_zeros(1, self.rnn.hidden_size) for _ in range(self.rnn.num_layers * self.D)]
        self.h, self.c = list(zeros), list(zeros)  # per (layer * D + direction): (1, H)
        self.weights = [[self._weights(layer, d) for d in range(self.D)] for layer in range(self.rnn.num_layers)]
        ids = torch.arange(model.head.out_features, device=p.device)[None]      # (1, V)
        inputs = model.one_hot_or_embed(ids)[0]                                  # (V, I)
        self.tables = [torch.nn.functional.linear(inputs, w_ih, b_ih)            # (V, G*H) per direction:
                       for w_ih, _, b_ih, _ in self.weights[0]]                  # layer 0's W_ih e + b_ih

    def _weights(self, layer: int, direction: int):
        return list(layer_weights(self.rnn, layer, direction))

    def _token(self, token_id: int) -> tuple[torch.Tensor, float]:
        seen, layer_in = float("nan"), None
        for layer in range(self.rnn.num_layers):
            outs = []
            for d in range(self.D):
                k = layer * self.D + d
                w_ih, w_hh, b_ih, b_hh = self.weights[layer][d]
                if layer == 0:
                    x_proj = self.tables[d][token_id:token_id + 1]  # (1, G*H), the folded embedding
                else:
                    x_proj = layer_in @ w_ih.T if b_ih is None else torch.addmm(b_ih, layer_in, w_ih.T)  # (1, G*H)
                clamp = self.clamp if self.clamp and (self.clamp.layer, self.clamp.direction) == (layer, d) else None
                values = cell_step(self.cell, x_proj, self.h[k], self.c[k], w_hh, b_hh, self.nonlinearity, clamp)
                self.h[k], self.c[k] = values["h"], values.get("c", self.c[k])
                if self.watch and (self.watch.layer, self.watch.direction) == (layer, d):
                    seen = float(values[self.watch.quantity][0, self.watch.unit])
                outs.append(self.h[k])
            layer_in = outs[0] if self.D == 1 else torch.cat(outs, dim=1)  # (1, D*H)
        return self.model.head(layer_in), seen  # (1, V)

    def __call__(self, ids: list[int]) -> tuple[np.ndarray, float]:
        for token_id in ids:
            logits, seen = self._token(token_id)
        return logits[0].float().cpu().numpy(), seen  # (V,)


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
    z = logits - logits.max()  # (V,)
    z *= 1.0 / temperature
    if top_k is not None and 0 < top_k < z.size:
        z[z < np.partition(z, -top_k)[-top_k]] = -np.inf
    cdf = np.exp(z, out=z).cumsum()  # (V,)
    return min(int(cdf.searchsorted(u * cdf[-1], "right")), z.size - 1)


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
    level = _level(vocab)
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
    step = _stepper(model, clamp, watch)
    ids = vocab[_prefix_tokens(prefix, _level(vocab))] or [vocab.unk]
    all_logits = torch.empty(max(length, 1), model.head.out_features)  # (n, V)
    rows, watched = all_logits.numpy(), np.full(max(length, 1), np.nan, np.float32)
    rows[0], watched[0] = step(ids)
    out = []
    for t in range(length):
        out.append(int(rows[t].argmax()) if greedy else _draw(rows[t], u[t], temperature, top_k))
        if t < length - 1:
            rows[t + 1], watched[t + 1] = step(out[-1:])
    return out, all_logits[:length], watched[:length]
