"""Run a text through a CharModel and collect everything inside it, step by step.

The model's recurrent module (nn.RNN / nn.LSTM / nn.GRU, or a registered cell type's) only
returns the top layer. `probe` runs the stack one layer at a time through modules of the same
cell type holding that layer's weights, so every layer's outputs h_t come from the module
itself; with h_{t-1} known for every t, the gates of all time steps are one batched call of
the cell type's step (`playground/cells.py`, time as the batch):

    gates_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)           all t at once, (T, G*H)

Only a cell state needs a loop, and an elementwise one. A cell state is affine in its past,
c_t = a_t * c_{t-1} + b_t (LSTM: a = f, b = i * g), so the batched step is given the imaginary
unit as c_{t-1}: the c it computes is b_t + i a_t, and the step's `fix` hook swaps it, before
h_t is computed from it, for the real c_t of the recurrence (run in numpy). The step then
recomputes h_t from the equations; the parity panel is max |h_t(equations) - h_t(module)| per
layer and step.
Arrays are float32 numpy, time first: (T, H) per (layer, direction, quantity).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cells import CellType, cell_type_of, keep, layer_weights
from .vocab import tokenize

TOP_K = 5
SATURATION_LOW, SATURATION_HIGH = 0.1, 0.9  # Karpathy et al. 2015, "Visualizing and Understanding RNNs"
OPEN_BRACKETS, CLOSE_BRACKETS = "([{", ")]}"
SIGNALS = ("nesting depth (inside brackets)", "after a space", "is a vowel", "is uppercase",
           "is a digit", "is a newline")


@dataclass
class ProbeResult:
    tokens: list[str]                        # T tokens of the probed text
    states: dict                             # {(layer, direction): {quantity: (T, H) float32}}
    top_tokens: list[list[str]]              # [t] -> the 5 likeliest tokens for position t+1
    top_probs: np.ndarray                    # (T, 5) their probabilities
    loss: np.ndarray                         # (T,) -log p(token t | tokens < t); NaN at t=0
    parity: np.ndarray                       # (L, T) max |h(cell equations) - h(nn)| over units
    cell: str = "LSTM"                       # the cell type ("RNN_TANH", "LSTM", ...)
    num_layers: int = 1
    num_directions: int = 1
    hidden_size: int = 0
    saturation: list[dict] = field(default_factory=list)  # rows: layer, direction, gate, below, above

    @property
    def quantities(self) -> list[str]:
        """"h", then "c" with a cell state, then the gates in weight row order."""
        return list(self.states[(0, 0)])

    @property
    def parity_max(self) -> float:
        return float(np.nanmax(self.parity)) if self.parity.size else 0.0

    @property
    def mean_loss(self) -> float:
        return float(np.nanmean(self.loss)) if len(self.loss) > 1 else float("nan")


def encode(text: str, vocab, tokenizer: str = "char") -> tuple[list[str], torch.Tensor]:
    """Text -> (tokens, ids (1, T)). Unknown tokens map to <unk>."""
    tokens = tokenize(text, tokenizer)
    if not tokens:
        raise ValueError("the text to probe is empty: type a few characters")
    return tokens, torch.tensor([vocab[tokens]], dtype=torch.long)  # (1, T)


def one_layer(rnn: nn.Module, layer: int) -> nn.Module:
    """A module of the same cell type holding only `layer`'s weights (both directions), on the
    CPU, time first: fed layer l-1's outputs it returns layer l's, as inside `rnn`."""
    D = 2 if rnn.bidirectional else 1
    with torch.device("meta"):  # no init: the weights are assigned below
        sub = cell_type_of(rnn).module(rnn.input_size if layer == 0 else D * rnn.hidden_size,
                                       rnn.hidden_size, num_layers=1, bias=rnn.bias,
                                       bidirectional=rnn.bidirectional)
    sd = {re.sub(r"_l\d+", "_l0", k): v.detach().cpu() for k, v in rnn.state_dict().items()
          if int(re.search(r"_l(\d+)", k).group(1)) == layer}
    sub.load_state_dict(sd, assign=True)
    return sub.eval()


def layer_states(ct: CellType, x: torch.Tensor, h: torch.Tensor, weights) -> tuple[dict, torch.Tensor]:
    """Every state and gate of one layer and direction over time, from the module's outputs.

    x (T, I) the layer's input, h (T, H) its outputs, both in the direction's time order;
    weights (w_ih, w_hh, b_ih, b_hh). Returns ({"h", "c" (with a cell state), gates...: (T, H)},
    parity (T,) = max over units |h(equations) - h(module)|)."""
    w_ih, w_hh, b_ih, b_hh = weights
    x_proj = x @ w_ih.T if b_ih is None else torch.addmm(b_ih, x, w_ih.T)  # (T, G*H)
    h_prev = torch.cat([h.new_zeros(1, h.shape[1]), h[:-1]])             # (T, H): h_{t-1}, h_0 = 0
    c_prev, fix = None, keep
    if ct.has_cell_state:   # c_{t-1} = i: the step's c_t = b_t + i a_t, swapped for the real c_t
        c_prev = torch.full_like(h, 1j, dtype=torch.complex64)
        fix = lambda name, v: cell_state(v.imag.clone(), v.real.clone()) if name == "c" else v  # noqa: E731
    h_eq, c, gates = ct.step(x_proj, h_prev, c_prev, w_hh, b_hh, fix)    # (T, H) each
    states = {"h": h, **({"c": c} if ct.has_cell_state else {}), **gates}
    return states, (h_eq - h).abs().amax(dim=1)                           # (T,)


def cell_state(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """c_t = a_t * c_{t-1} + b_t with c_0 = 0, a and b (T, H) (LSTM: a = f, b = i * g): the one
    recurrence left, elementwise, in numpy (a few µs a step)."""
    a_np, c = a.numpy(), b.numpy()  # c starts as b (a fresh tensor); c[t] += a[t] * c[t-1]
    for t in range(1, len(c)):
        c[t] += a_np[t] * c[t - 1]
    return torch.from_numpy(c)  # (T, H)


def trace_layers(rnn: nn.Module, x: torch.Tensor) -> tuple[dict, np.ndarray, torch.Tensor]:
    """x (T, input_size) -> ({(layer, direction): {quantity: (T, H)}}, parity (L, T), top
    layer's outputs (T, D*H))."""
    ct = cell_type_of(rnn)
    D, H, T = 2 if rnn.bidirectional else 1, rnn.hidden_size, x.shape[0]
    traces, parity, layer_in = {}, np.zeros((rnn.num_layers, T), dtype=np.float32), x
    for layer in range(rnn.num_layers):
        sub = one_layer(rnn, layer)
        out, _ = sub(layer_in)  # (T, D*H)
        for d in range(D):
            weights = list(layer_weights(sub, 0, d))
            flip = (lambda v: v.flip(0)) if d else (lambda v: v)  # the reverse direction reads t = T-1 .. 0
            states, diff = layer_states(ct, flip(layer_in), flip(out[:, d * H:(d + 1) * H]), weights)
            traces[(layer, d)] = {name: flip(v) for name, v in states.items()}  # each (T, H), time order
            parity[layer] = np.maximum(parity[layer], flip(diff).numpy())
        layer_in = out
    return traces, parity, layer_in


def gate_saturation(states: dict, sigmoid_gates=()) -> list[dict]:
    """Per (layer, direction, sigmoid gate): share of (time, unit) values below 0.1 (closed)
    and above 0.9 (open), and per-unit shares for a Karpathy-style scatter."""
    rows = []
    for (layer, direction), q in states.items():
        for gate in (g for g in q if g in sigmoid_gates):
            v = q[gate]  # (T, H)
            below, above = (v < SATURATION_LOW).mean(axis=0), (v > SATURATION_HIGH).mean(axis=0)  # (H,)
            rows.append({"layer": layer, "direction": direction, "gate": gate,
                         "below": float(below.mean()), "above": float(above.mean()),
                         "unit_below": below.astype(np.float32), "unit_above": above.astype(np.float32)})
    return rows


@torch.inference_mode()
def probe(model, vocab, text: str, tokenizer: str = "char") -> ProbeResult:
    """Trace `text` through a CharModel: every layer's h (c) and gates, the model's top-5
    guesses and loss at each step, and parity of the cell equations with nn."""
    model = model.eval()
    tokens, ids = encode(text, vocab, tokenizer)
    rnn, head = model.rnn, model.head
    x = model.one_hot_or_embed(ids.to(head.weight.device))[0].float().cpu()  # (T, input_size)
    traces, parity, top = trace_layers(rnn, x)  # top: (T, D*H)
    states = {key: {name: v.numpy().astype(np.float32, copy=False) for name, v in q.items()}
              for key, q in traces.items()}
    logits = F.linear(top, head.weight.detach().cpu().float(),
                      None if head.bias is None else head.bias.detach().cpu().float())  # (T, V)
    logp = F.log_softmax(logits, dim=-1)  # (T, V)
    k = min(TOP_K, logp.shape[-1])
    top_logp, top_ids = logp.topk(k, dim=-1)  # (T, k)
    loss = np.full(len(tokens), np.nan, dtype=np.float32)
    if len(tokens) > 1:  # the guess made at t-1 is scored on token t
        loss[1:] = (-logp[:-1].gather(1, ids[0, 1:, None])[:, 0]).numpy()
    top_tokens = [vocab.to_tokens(row) for row in top_ids.tolist()]
    ct = cell_type_of(rnn)
    return ProbeResult(tokens=tokens, states=states, top_tokens=top_tokens,
                       top_probs=top_logp.exp().numpy().astype(np.float32), loss=loss,
                       parity=parity, cell=ct.name, num_layers=rnn.num_layers,
                       num_directions=2 if rnn.bidirectional else 1, hidden_size=rnn.hidden_size,
                       saturation=gate_saturation(states, ct.sigmoid_gates))


# ---- character-class signals and unit sorting -------------------------------------------

def nesting_depth(tokens: list[str]) -> np.ndarray:
    """Bracket depth after reading each token: "(()" -> 1, 2, 1. Never below 0."""
    depth, out = 0, np.zeros(len(tokens), dtype=np.float32)
    for t, tok in enumerate(tokens):
        depth += sum(ch in OPEN_BRACKETS for ch in tok) - sum(ch in CLOSE_BRACKETS for ch in tok)
        depth = max(depth, 0)
        out[t] = depth
    return out


def char_signal(tokens: list[str], name: str) -> np.ndarray:
    """A per-token signal (T,) float32 for one of SIGNALS."""
    if name == SIGNALS[0]:
        return nesting_depth(tokens)
    if name == "after a space":
        return np.array([t > 0 and tokens[t - 1].isspace() for t in range(len(tokens))], dtype=np.float32)
    tests = {"is a vowel": lambda s: s.lower() in "aeiou" and s != "",
             "is uppercase": str.isupper, "is a digit": str.isdigit, "is a newline": lambda s: s == "\n"}
    if name not in tests:
        raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {name!r}")
    return np.array([tests[name](tok) for tok in tokens], dtype=np.float32)


def has_brackets(text: str) -> bool:
    return any(ch in text for ch in OPEN_BRACKETS + CLOSE_BRACKETS)


def unit_correlation(values: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Pearson correlation of each unit (column of values (T, H)) with signal (T,): (H,).
    A unit or signal that never changes has correlation 0."""
    v = values.astype(np.float64) - values.mean(axis=0)  # (T, H)
    s = signal.astype(np.float64) - signal.mean()  # (T,)
    denom = np.sqrt((v ** 2).sum(axis=0) * (s ** 2).sum())  # (H,)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (v * s[:, None]).sum(axis=0) / denom
    return np.nan_to_num(r, nan=0.0).astype(np.float32)


def unit_activity(values: np.ndarray) -> np.ndarray:
    """How much each unit moves over the text: its standard deviation over time, (H,)."""
    return values.std(axis=0).astype(np.float32)


def sort_units(values: np.ndarray, by: str = "unit index", signal: np.ndarray | None = None) -> np.ndarray:
    """Unit order (H,) for the heatmap rows: "unit index", "activity" (std over time, most
    active first) or "correlation" (|r| with `signal`, strongest first)."""
    H = values.shape[1]
    if by == "unit index":
        return np.arange(H)
    if by == "activity":
        return np.argsort(-unit_activity(values), kind="stable")
    if by == "correlation":
        if signal is None:
            raise ValueError("sorting by correlation needs a character-class signal")
        return np.argsort(-np.abs(unit_correlation(values, signal)), kind="stable")
    raise ValueError(f"sort by must be 'unit index', 'activity' or 'correlation', got {by!r}")


def best_unit(result: ProbeResult, signal: np.ndarray, quantities=("h", "c")) -> dict:
    """The (layer, direction, quantity, unit) whose activation correlates most strongly
    with `signal`, searched over every layer and direction: {..., "r": correlation}."""
    best = {"r": 0.0, "layer": 0, "direction": 0, "quantity": "h", "unit": 0}
    for (layer, direction), q in result.states.items():
        for name in (n for n in quantities if n in q):
            r = unit_correlation(q[name], signal)  # (H,)
            unit = int(np.argmax(np.abs(r)))
            if abs(r[unit]) > abs(best["r"]):
                best = {"r": float(r[unit]), "layer": layer, "direction": direction,
                        "quantity": name, "unit": unit}
    return best
