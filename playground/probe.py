"""Run a text through a CharModel and collect everything inside it, step by step.

The model's nn.RNN / nn.LSTM / nn.GRU only returns the top layer; `probe` rebuilds it as a
`ScratchRNN` from its state_dict and traces every layer, direction, state and gate, then
checks the rebuild against the nn module (the parity panel). Arrays are float32 numpy,
time first: (T, H) per (layer, direction, quantity).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cells import ScratchRNN
from .vocab import tokenize

TOP_K = 5
SATURATION_LOW, SATURATION_HIGH = 0.1, 0.9  # Karpathy et al. 2015, "Visualizing and Understanding RNNs"
SIGMOID_GATES = ("i", "f", "o", "r", "z")   # gates in [0, 1]; g and n are tanh-valued
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
    parity: np.ndarray                       # (L, T) max |scratch - nn| over units, per layer
    cell: str = "LSTM"
    num_layers: int = 1
    num_directions: int = 1
    hidden_size: int = 0
    saturation: list[dict] = field(default_factory=list)  # rows: layer, direction, gate, below, above

    @property
    def quantities(self) -> list[str]:
        """"h", then "c" for LSTM, then the gates in weight row order."""
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


def layer_parity(rnn: nn.RNNBase, scratch: ScratchRNN, x: torch.Tensor, traces: dict) -> np.ndarray:
    """max |scratch - nn| of every layer's outputs per time step, (L, T).

    nn only returns the top layer, so layer l is checked against an nn module of the same
    kind holding the first l+1 layers' weights (its output is layer l's h)."""
    L, D, T = rnn.num_layers, 2 if rnn.bidirectional else 1, x.shape[1]
    parity = np.zeros((L, T), dtype=np.float32)
    sd = rnn.state_dict()
    for layer in range(L):
        sub = type(rnn)(**_module_kwargs(rnn, num_layers=layer + 1))
        sub.load_state_dict({k: v for k, v in sd.items() if int(k.split("_l")[1].split("_")[0]) <= layer})
        ref, _ = sub(x)  # (1, T, D*H)
        mine = torch.cat([traces[(layer, d)]["h"] for d in range(D)], dim=2)  # (T, 1, D*H)
        diff = (mine.transpose(0, 1) - ref).abs().amax(dim=(0, 2))  # (T,)
        parity[layer] = diff.numpy()
    return parity


def _module_kwargs(rnn: nn.RNNBase, num_layers: int) -> dict:
    kw = dict(input_size=rnn.input_size, hidden_size=rnn.hidden_size, num_layers=num_layers,
              bias=rnn.bias, batch_first=rnn.batch_first, bidirectional=rnn.bidirectional)
    if isinstance(rnn, nn.RNN):
        kw["nonlinearity"] = rnn.nonlinearity
    return kw


def gate_saturation(states: dict) -> list[dict]:
    """Per (layer, direction, sigmoid gate): share of (time, unit) values below 0.1 (closed)
    and above 0.9 (open), and per-unit shares for a Karpathy-style scatter."""
    rows = []
    for (layer, direction), q in states.items():
        for gate in (g for g in q if g in SIGMOID_GATES):
            v = q[gate]  # (T, H)
            below, above = (v < SATURATION_LOW).mean(axis=0), (v > SATURATION_HIGH).mean(axis=0)  # (H,)
            rows.append({"layer": layer, "direction": direction, "gate": gate,
                         "below": float(below.mean()), "above": float(above.mean()),
                         "unit_below": below.astype(np.float32), "unit_above": above.astype(np.float32)})
    return rows


@torch.no_grad()
def probe(model, vocab, text: str, tokenizer: str = "char") -> ProbeResult:
    """Trace `text` through a CharModel: every layer's h (c) and gates, the model's top-5
    guesses and loss at each step, and parity of the from-scratch rebuild with nn."""
    model = model.eval()
    tokens, ids = encode(text, vocab, tokenizer)
    rnn = model.rnn.cpu()
    scratch = ScratchRNN.from_module(rnn).eval()
    x = model.one_hot_or_embed(ids).float()  # (1, T, input_size)
    traces = scratch.trace(x)  # {(l, d): {name: (T, 1, H)}}
    states = {key: {name: v[:, 0].numpy().astype(np.float32) for name, v in q.items()}
              for key, q in traces.items()}
    logits, _ = model(ids)  # (1, T, V)
    logp = F.log_softmax(logits[0].float(), dim=-1)  # (T, V)
    k = min(TOP_K, logp.shape[-1])
    top_logp, top_ids = logp.topk(k, dim=-1)  # (T, k)
    loss = np.full(len(tokens), np.nan, dtype=np.float32)
    if len(tokens) > 1:  # the guess made at t-1 is scored on token t
        loss[1:] = (-logp[:-1].gather(1, ids[0, 1:, None])[:, 0]).numpy()
    top_tokens = [vocab.to_tokens(row) for row in top_ids.tolist()]
    return ProbeResult(tokens=tokens, states=states, top_tokens=top_tokens,
                       top_probs=top_logp.exp().numpy().astype(np.float32), loss=loss,
                       parity=layer_parity(rnn, scratch, x, traces), cell=scratch.cell,
                       num_layers=scratch.num_layers, num_directions=scratch.num_directions,
                       hidden_size=scratch.hidden_size, saturation=gate_saturation(states))


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
