"""Cell types: the one home of what a cell is, and from-scratch layers that compute exactly
what nn.RNN / nn.LSTM / nn.GRU compute.

A `CellType` is one declaration: its name (the config's `cell`, also the module's `mode`, as
nn.RNN's "RNN_TANH"), label, family (the torch module kind: "RNN" | "LSTM" | "GRU"), gates in
weight row order with their titles and which are sigmoids, whether it carries a cell state c,
its torch step, an optional numpy step (fast generation), a module builder, its FLOP rate
(limits) and which gate a forget bias shifts. `register` adds one; every other module asks
`CELL_TYPES` / `cell_type(...)` (tests/test_cell_declaration.py declares one in a test alone).

`nn.LSTM` returns only the top layer's outputs and the last state of each layer. To look
inside every layer and gate over time, `ScratchRNN` writes the cells out from their
equations, with the same parameter names as PyTorch (`weight_ih_l0`, `bias_hh_l1_reverse`,
...), so a state_dict loads both ways and the two modules agree to float precision.

Shapes: T = seq_len, B = batch_size, I = input_size, H = hidden_size,
L = num_layers, D = 2 if bidirectional else 1.
Gate rows are stacked in PyTorch's weight row order: LSTM (i, f, g, o), GRU (r, z, n).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

import torch
from torch import nn

from . import numpy_steps
from .numpy_steps import NumpyStep

DIRECTIONS = ("forward", "reverse")   # PyTorch names the second direction's weights "*_reverse"


def keep(name: str, value: torch.Tensor) -> torch.Tensor:
    """The default `fix` of a step: every gate (and c) as computed."""
    return value


@dataclass(frozen=True, eq=False)
class CellType:
    """Everything the app needs to know about one cell type. A step is

        step(x_proj, h, c, w_hh, b_hh, fix=keep) -> (h_t, c_t or None, {gate: (B, H)})

    with x_proj = W_ih x_t + b_ih (B, G*H), h = h_{t-1}, c = c_{t-1} (None without a cell
    state). Each gate and c goes through fix(name, value) as soon as it is computed and the
    rest of the step uses what fix returns (generate's clamp forces one unit that way)."""
    name: str                     # the cell type: ModelConfig.cell and the module's `mode`
    label: str                    # shown in menus and captions
    family: str                   # the torch module kind: "RNN" | "LSTM" | "GRU" (a new cell: its own)
    gates: tuple[str, ...]        # blocks of weight_ih/weight_hh rows, in weight row order
    step: Callable                # the torch step (above)
    flops_per_second: float       # sustained fp32 FLOP/s of one core training it (limits.estimate)
    titles: Mapping[str, str]     # "h", "c" (with a cell state) and each gate -> its title
    meanings: Mapping[str, str] = field(default_factory=dict)  # gate -> what its rows compute
    sigmoid_gates: tuple[str, ...] = ()   # gates valued in [0, 1] (the others are tanh-valued)
    has_cell_state: bool = False          # carries c beside h (state is (h, c), as nn.LSTM's)
    forget_gate: str | None = None        # the gate ModelConfig.forget_bias shifts (None: refused)
    nonlinearity: str = "tanh"            # tells apart the cell types of one family (RNN)
    build: Callable | None = None         # (input_size, hidden_size, **kw) -> module; None: ScratchRNN
    numpy_step: NumpyStep | None = None   # fast generation; None: generate uses `step`

    def __post_init__(self):
        missing = set(self.quantities) - set(self.titles)
        for bad, why in ((self.name != self.name.upper(), "its name must be upper case"),
                         (missing, f"titles lack {sorted(missing)}"),
                         (set(self.sigmoid_gates) - set(self.gates), "sigmoid_gates must be gates"),
                         (self.forget_gate not in (None, *self.sigmoid_gates), "forget_gate must be a sigmoid gate"),
                         (not self.flops_per_second > 0, "flops_per_second must be > 0")):
            if bad:
                raise ValueError(f"cell type {self.name!r}: {why}")

    @property
    def quantities(self) -> list[str]:
        """What can be watched, clamped and traced: "h", "c" with a cell state, then the gates
        (a gate named "h", the plain RNN's candidate, is h itself)."""
        return ["h"] + ["c"] * self.has_cell_state + [g for g in self.gates if g != "h"]

    def module(self, input_size: int, hidden_size: int, **kwargs) -> nn.Module:
        """The torch module of this cell type (kwargs: num_layers, bias, dropout, bidirectional,
        batch_first), with nn.RNN's parameter names and call contract."""
        build = self.build or partial(ScratchRNN, self.name)
        return build(input_size, hidden_size, **kwargs)

    @torch.no_grad()
    def add_forget_bias(self, rnn: nn.Module, value: float) -> None:
        """The one forget-bias rule: bias_ih's rows of the forget gate += value, in every layer
        and direction, so the gate starts at sigmoid(value + ...). (bias_ih and bias_hh enter
        the gate only as a sum, so their gradients are equal: where the shift sits changes no
        trained result under Adam or SGD.)"""
        if self.forget_gate is None:
            raise ValueError(f"forget_bias needs a forget gate; the {self.label} cell has none")
        j, H = self.gates.index(self.forget_gate), rnn.hidden_size
        for name, p in rnn.named_parameters():
            if name.startswith("bias_ih"):
                p[j * H:(j + 1) * H] += value                         # (H,) the forget gate's rows


CELL_TYPES: dict[str, CellType] = {}   # name -> CellType; change it through register/unregister


def register(ct: CellType) -> CellType:
    """Add a cell type: from now on configs, menus, shapes, training, generation and probing
    accept it. ValueError if the name is taken."""
    if ct.name in CELL_TYPES:
        raise ValueError(f"a cell type named {ct.name!r} is already registered")
    CELL_TYPES[ct.name] = ct
    return ct


def unregister(name: str) -> None:
    """Remove a cell type added with `register` (tests clean up with it)."""
    CELL_TYPES.pop(name, None)


def cell_type(cell: str, nonlinearity: str = "tanh") -> CellType:
    """The CellType for a cell type name ("RNN_TANH", "gru"), which is also a module's `mode`,
    or a family name ("RNN" with `nonlinearity`, "LSTM", "GRU")."""
    key = str(cell).upper()
    if key in CELL_TYPES:
        return CELL_TYPES[key]
    kin = [ct for ct in CELL_TYPES.values() if ct.family == key]
    if not kin:
        families = sorted({ct.family for ct in CELL_TYPES.values()} - set(CELL_TYPES))
        raise ValueError(f"cell must be one of {', '.join(CELL_TYPES)} (or a family: "
                         f"{', '.join(families)}), got {cell!r}")
    for ct in kin:
        if len(kin) == 1 or ct.nonlinearity == nonlinearity:
            return ct
    raise ValueError(f"nonlinearity must be one of {', '.join(repr(ct.nonlinearity) for ct in kin)} "
                     f"for {key}, got {nonlinearity!r}")


def cell_type_of(module: nn.Module) -> CellType:
    """The CellType of a recurrent module: its `mode` names it (as nn.RNN's does)."""
    return cell_type(module.mode)


class _View(Mapping):
    """A read-only dict computed from the registered cell types at each use."""

    def __init__(self, compute: Callable[[], dict]):
        self._compute = compute

    def __getitem__(self, key):
        return self._compute()[key]

    def __iter__(self):
        return iter(self._compute())

    def __len__(self) -> int:
        return len(self._compute())


class _SetView(_View, Set):
    """A read-only set computed from the registered cell types at each use."""


def _union(attr: str) -> dict:
    out = {}
    for ct in CELL_TYPES.values():
        for key, value in getattr(ct, attr).items():
            out.setdefault(key, value)
    return out


LABELS = _View(lambda: {c.name: c.label for c in CELL_TYPES.values()})
FAMILY_GATES = _View(lambda: {c.family: c.gates for c in CELL_TYPES.values()})  # family -> gates
GATE_TITLES = _View(lambda: _union("titles"))        # quantity -> title (figures, Hidden states)
GATE_MEANINGS = _View(lambda: _union("meanings"))    # gate -> what its rows compute (Shapes page)
SIGMOID_GATES = _SetView(lambda: {g: None for c in CELL_TYPES.values() for g in c.sigmoid_gates})


def suffix(layer: int, direction: int) -> str:
    """PyTorch's parameter-name suffix: "_l1", "_l0_reverse"."""
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def layer_weights(module: nn.Module, layer: int, direction: int = 0):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction of an nn.RNN/LSTM/GRU
    or a ScratchRNN; the biases are None for bias=False."""
    sfx = suffix(layer, direction)
    return tuple(getattr(module, name + sfx, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


# ---- the built-in cells' equations ---------------------------------------------------------

def _rnn_step(act, x_proj, h, c, w_hh, b_hh, fix=keep):
    """Elman RNN step:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh | relu.
    Returns (h_t, None, {}): the one gate block is h itself."""
    pre = x_proj + h @ w_hh.T  # (B, H)
    if b_hh is not None:
        pre = pre + b_hh
    return act(pre), None, {}


rnn_tanh_step = partial(_rnn_step, torch.tanh)
rnn_relu_step = partial(_rnn_step, torch.relu)


def lstm_step(x_proj, h, c, w_hh, b_hh, fix=keep):
    """LSTM step (Hochreiter & Schmidhuber; PyTorch's form):

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)        candidate cell
        o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    `x_proj` is W_ih x_t + b_ih, (B, 4H), rows in (i, f, g, o) order.
    """
    gates = x_proj + h @ w_hh.T  # (B, 4H)
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, dim=-1)  # each (B, H)
    i, f = fix("i", torch.sigmoid(i)), fix("f", torch.sigmoid(f))
    g, o = fix("g", torch.tanh(g)), fix("o", torch.sigmoid(o))
    c_new = fix("c", f * c + i * g)  # (B, H)
    h_new = o * torch.tanh(c_new)  # (B, H)
    return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}


def gru_step(x_proj, h, c, w_hh, b_hh, fix=keep):
    """GRU step (Cho et al. 2014; PyTorch's form, reset gate applied after W_hn):

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)           reset gate
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)           update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))      candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    `x_proj` is W_ih x_t + b_ih, (B, 3H), rows in (r, z, n) order.
    """
    h_proj = h @ w_hh.T  # (B, 3H)
    if b_hh is not None:
        h_proj = h_proj + b_hh
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)  # each (B, H)
    h_r, h_z, h_n = h_proj.chunk(3, dim=-1)  # each (B, H)
    r = fix("r", torch.sigmoid(x_r + h_r))
    z = fix("z", torch.sigmoid(x_z + h_z))
    n = fix("n", torch.tanh(x_n + r * h_n))
    h_new = (1 - z) * n + z * h  # (B, H)
    return h_new, None, {"r": r, "z": z, "n": n}


# flops_per_second: sustained fp32 FLOP/s of one core in torch's CPU kernels, measured here
# (benchmarks: LSTM 100-170e9, GRU 55e9, tanh RNN 25e9 at hidden_size 128-512), rounded down.
_H_TITLE = {"h": "hidden state h"}
_RNN = dict(family="RNN", gates=("h",), flops_per_second=25e9,
            titles=_H_TITLE, meanings={"h": "candidate hidden state (tanh or relu)"})
for _ct in (
    CellType("RNN_TANH", "RNN (tanh)", step=rnn_tanh_step, build=partial(nn.RNN, nonlinearity="tanh"),
             numpy_step=numpy_steps.RNN_TANH, **_RNN),
    CellType("RNN_RELU", "RNN (relu)", step=rnn_relu_step, build=partial(nn.RNN, nonlinearity="relu"),
             numpy_step=numpy_steps.RNN_RELU, nonlinearity="relu", **_RNN),
    CellType("LSTM", "LSTM", "LSTM", ("i", "f", "g", "o"), lstm_step, 80e9,
             {**_H_TITLE, "c": "cell state c", "i": "input gate i", "f": "forget gate f",
              "g": "candidate g", "o": "output gate o"},
             {"i": "input gate", "f": "forget gate", "g": "cell candidate (tanh)", "o": "output gate"},
             sigmoid_gates=("i", "f", "o"), has_cell_state=True, forget_gate="f",
             build=nn.LSTM, numpy_step=numpy_steps.LSTM),
    CellType("GRU", "GRU", "GRU", ("r", "z", "n"), gru_step, 50e9,
             {**_H_TITLE, "r": "reset gate r", "z": "update gate z", "n": "candidate n"},
             {"r": "reset gate", "z": "update gate", "n": "new candidate (tanh)"},
             sigmoid_gates=("r", "z"), build=nn.GRU, numpy_step=numpy_steps.GRU),
):
    register(_ct)


class ScratchRNN(nn.Module):
    """A stack of recurrent layers written from a cell type's step equations (`lstm_step`,
    `gru_step`, ... or a registered cell's), with nn.RNN/nn.LSTM/nn.GRU's parameters and call
    contract. `cell`: a cell type name ("RNN_TANH", "LSTM", a registered one) or a family
    ("RNN" with `nonlinearity`, "LSTM", "GRU"); `mode` is the cell type's name, as nn's.

    Layer l > 0 reads the concatenated outputs of both directions of layer l-1 (size D*H).
    The reverse direction reads the sequence from the last step to the first; its outputs
    are stored back in time order, so output[t] = [h_fwd(t), h_bwd(t)].
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, bidirectional=False, nonlinearity="tanh", dropout=0.0):
        super().__init__()
        self.cell_type = cell_type(cell, nonlinearity)
        self.mode, self.family = self.cell_type.name, self.cell_type.family   # as nn.RNNBase's mode
        self.nonlinearity = self.cell_type.nonlinearity
        for name, value, low in (("input_size", input_size, 1), ("hidden_size", hidden_size, 1),
                                 ("num_layers", num_layers, 1)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout = float(dropout)
        self.num_directions = 2 if bidirectional else 1
        self.gate_names = self.cell_type.gates
        rows = len(self.gate_names) * hidden_size  # gates stacked: 4H LSTM, 3H GRU, H RNN
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else hidden_size * self.num_directions
            for direction in range(self.num_directions):
                sfx = self._suffix(layer, direction)
                self.register_parameter("weight_ih" + sfx, nn.Parameter(torch.empty(rows, layer_in)))
                self.register_parameter("weight_hh" + sfx, nn.Parameter(torch.empty(rows, hidden_size)))
                if self.bias:
                    self.register_parameter("bias_ih" + sfx, nn.Parameter(torch.empty(rows)))
                    self.register_parameter("bias_hh" + sfx, nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    _suffix = staticmethod(suffix)

    def reset_parameters(self) -> None:
        """PyTorch's initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @classmethod
    def from_module(cls, module: nn.RNNBase) -> "ScratchRNN":
        """A ScratchRNN with the same configuration and weights as an nn.RNN/LSTM/GRU."""
        if getattr(module, "proj_size", 0):
            raise ValueError("LSTM with proj_size > 0 is not supported by ScratchRNN")
        scratch = cls(module.mode, module.input_size, module.hidden_size, module.num_layers,
                      bias=module.bias, batch_first=module.batch_first,
                      bidirectional=module.bidirectional, dropout=module.dropout)
        scratch.load_state_dict(module.state_dict())
        return scratch.to(next(module.parameters()).device)

    def _weights(self, layer, direction):
        return layer_weights(self, layer, direction)

    def _initial_state(self, x, hx):
        """Split hx into per-(layer, direction) (h0, c0) pairs, each (B, H)."""
        LD, B, H = self.num_layers * self.num_directions, x.shape[1], self.hidden_size
        zeros = x.new_zeros(LD, B, H)  # (L*D, B, H)
        if self.cell_type.has_cell_state:
            h0, c0 = (zeros, zeros) if hx is None else hx
        else:
            h0, c0 = (zeros if hx is None else hx), None
        for name, state in (("h0", h0), ("c0", c0)):
            if state is not None and tuple(state.shape) != (LD, B, H):
                raise ValueError(f"{name} must have shape (num_layers*num_directions, batch_size, "
                                 f"hidden_size) = {(LD, B, H)}, got {tuple(state.shape)}")
        return h0, c0

    def _run_direction(self, x, layer, direction, h, c, record):
        """One layer, one direction over the whole sequence. x: (T, B, I_l).
        Returns outputs (T, B, H), h_T, c_T, and the per-step trace if `record`."""
        w_ih, w_hh, b_ih, b_hh = self._weights(layer, direction)
        x_proj = x @ w_ih.T  # (T, B, G*H): input projections for all steps at once
        if b_ih is not None:
            x_proj = x_proj + b_ih
        steps = range(x.shape[0] - 1, -1, -1) if direction == 1 else range(x.shape[0])
        outputs, trace = [None] * x.shape[0], {}
        for t in steps:
            h, c, gates = self.cell_type.step(x_proj[t], h, c, w_hh, b_hh)
            outputs[t] = h
            if record:
                recorded = gates if c is None else {"c": c, **gates}  # order: h, c, gates
                for name, value in recorded.items():
                    trace.setdefault(name, [None] * x.shape[0])[t] = value
        out = torch.stack(outputs)  # (T, B, H)
        if record:
            trace = {"h": out, **{k: torch.stack(v) for k, v in trace.items()}}  # each (T, B, H)
        return out, h, c, trace

    def _run(self, x, hx, record):
        unbatched = x.dim() == 2
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be 2-D (T, I) or 3-D, got shape {tuple(x.shape)}")
        if unbatched:
            x = x.unsqueeze(1)  # (T, 1, I)
            if hx is not None:
                hx = tuple(s.unsqueeze(1) for s in hx) if self.cell_type.has_cell_state else hx.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)  # (B, T, I) -> (T, B, I)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input has {x.shape[-1]} features, expected input_size={self.input_size}")
        h0, c0 = self._initial_state(x, hx)
        h_n, c_n, traces, layer_in = [], [], {}, x
        for layer in range(self.num_layers):
            outs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                out, h, c, trace = self._run_direction(
                    layer_in, layer, direction, h0[k], None if c0 is None else c0[k], record)
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
                traces[(layer, direction)] = trace
            layer_in = torch.cat(outs, dim=2)  # (T, B, D*H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_in = nn.functional.dropout(layer_in, self.dropout, training=True)
        output = layer_in  # (T, B, D*H)
        state = torch.stack(h_n)  # (L*D, B, H)
        if self.cell_type.has_cell_state:
            state = (state, torch.stack(c_n))
        if unbatched:
            output = output.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if self.cell_type.has_cell_state else state.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)  # (B, T, D*H)
        return output, state, traces

    def forward(self, x, hx=None):
        """x: (T, B, I), or (B, T, I) if batch_first, or unbatched (T, I).
        hx: h0 (L*D, B, H), or (h0, c0) for a cell with a cell state (LSTM); zeros if None.
        Returns (output (T, B, D*H), h_n (L*D, B, H)) or (output, (h_n, c_n))."""
        output, state, _ = self._run(x, hx, record=False)
        return output, state

    def trace(self, x, hx=None) -> dict:
        """Everything inside, per (layer, direction): {"h": (T, B, H), "c": (T, B, H) with a cell
        state, and each gate ("i","f","g","o" for LSTM, "r","z","n" for GRU): (T, B, H)}, in time
        order whatever the direction or batch_first. Unbatched input gives (T, 1, H)."""
        _, _, traces = self._run(x, hx, record=True)
        return traces
