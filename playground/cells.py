"""Cell types, their equations, and from-scratch layers that compute exactly what nn.RNN /
nn.LSTM / nn.GRU compute. The one home of what a cell type is: its names and label, its gates
(in weight row order) and which of them are sigmoids, the torch module it maps to, how its
weights are named and fetched, and its step equations. Adding a cell type touches this module.

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
from dataclasses import dataclass

import torch
from torch import nn

NONLINEARITIES = ("tanh", "relu")
DIRECTIONS = ("forward", "reverse")   # PyTorch names the second direction's weights "*_reverse"


@dataclass(frozen=True)
class CellType:
    name: str                  # the config's name: "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU"
    label: str                 # shown in menus and captions
    family: str                # the torch module: "RNN" | "LSTM" | "GRU"
    gates: tuple[str, ...]     # blocks of weight_ih/weight_hh rows, in PyTorch's order
    sigmoid_gates: tuple[str, ...] = ()   # gates valued in [0, 1] (the others are tanh-valued)
    nonlinearity: str = "tanh"            # the plain RNN's activation

    def module(self, input_size: int, hidden_size: int, **kwargs) -> nn.RNNBase:
        """The torch module of this cell type (kwargs: num_layers, dropout, bidirectional, ...)."""
        if self.family == "RNN":
            return nn.RNN(input_size, hidden_size, nonlinearity=self.nonlinearity, **kwargs)
        return getattr(nn, self.family)(input_size, hidden_size, **kwargs)


CELL_TYPES = {c.name: c for c in (
    CellType("RNN_TANH", "RNN (tanh)", "RNN", ("h",), nonlinearity="tanh"),
    CellType("RNN_RELU", "RNN (relu)", "RNN", ("h",), nonlinearity="relu"),
    CellType("LSTM", "LSTM", "LSTM", ("i", "f", "g", "o"), sigmoid_gates=("i", "f", "o")),
    CellType("GRU", "GRU", "GRU", ("r", "z", "n"), sigmoid_gates=("r", "z")),
)}
GATE_MEANINGS = {   # what each gate block computes (Shapes page)
    "h": "candidate hidden state (tanh or relu)",
    "i": "input gate", "f": "forget gate", "g": "cell candidate (tanh)", "o": "output gate",
    "r": "reset gate", "z": "update gate", "n": "new candidate (tanh)",
}
CELL_GATES = {c.family: c.gates for c in CELL_TYPES.values()}   # by torch family: "RNN" | "LSTM" | "GRU"
SIGMOID_GATES = tuple(sorted({g for c in CELL_TYPES.values() for g in c.sigmoid_gates}))
LABELS = {c.name: c.label for c in CELL_TYPES.values()}


def cell_type(cell: str, nonlinearity: str = "tanh") -> CellType:
    """The CellType for a config name ("RNN_TANH"), nn's mode ("RNN_TANH", "LSTM"), or a family
    name ("RNN" with `nonlinearity`, "LSTM", "GRU")."""
    family, nonlinearity = normalize_cell(cell, nonlinearity)
    return CELL_TYPES[f"RNN_{nonlinearity.upper()}" if family == "RNN" else family]


def suffix(layer: int, direction: int) -> str:
    """PyTorch's parameter-name suffix: "_l1", "_l0_reverse"."""
    return f"_l{layer}" + ("_reverse" if direction == 1 else "")


def layer_weights(module: nn.Module, layer: int, direction: int = 0):
    """(weight_ih, weight_hh, bias_ih, bias_hh) of one layer and direction of an nn.RNN/LSTM/GRU
    or a ScratchRNN; the biases are None for bias=False."""
    sfx = suffix(layer, direction)
    return tuple(getattr(module, name + sfx, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def rnn_step(x_proj, h, w_hh, b_hh, nonlinearity="tanh"):
    """Elman RNN step:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),  act = tanh | relu.

    `x_proj` is the precomputed W_ih x_t + b_ih, (B, H). Returns (h_t, {}).
    """
    pre = x_proj + h @ w_hh.T  # (B, H)
    if b_hh is not None:
        pre = pre + b_hh
    h_new = torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)  # (B, H)
    return h_new, {}


def lstm_step(x_proj, h, c, w_hh, b_hh):
    """LSTM step (Hochreiter & Schmidhuber; PyTorch's form):

        i_t = sigmoid(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)     input gate
        f_t = sigmoid(W_if x_t + b_if + W_hf h_{t-1} + b_hf)     forget gate
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)        candidate cell
        o_t = sigmoid(W_io x_t + b_io + W_ho h_{t-1} + b_ho)     output gate
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)

    `x_proj` is W_ih x_t + b_ih, (B, 4H), rows in (i, f, g, o) order.
    Returns (h_t, c_t, {"i", "f", "g", "o"}).
    """
    gates = x_proj + h @ w_hh.T  # (B, 4H)
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, dim=1)  # each (B, H)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c_new = f * c + i * g  # (B, H)
    h_new = o * torch.tanh(c_new)  # (B, H)
    return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}


def gru_step(x_proj, h, w_hh, b_hh):
    """GRU step (Cho et al. 2014; PyTorch's form, reset gate applied after W_hn):

        r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)           reset gate
        z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)           update gate
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))      candidate
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    `x_proj` is W_ih x_t + b_ih, (B, 3H), rows in (r, z, n) order.
    Returns (h_t, {"r", "z", "n"}).
    """
    h_proj = h @ w_hh.T  # (B, 3H)
    if b_hh is not None:
        h_proj = h_proj + b_hh
    x_r, x_z, x_n = x_proj.chunk(3, dim=1)  # each (B, H)
    h_r, h_z, h_n = h_proj.chunk(3, dim=1)  # each (B, H)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    h_new = (1 - z) * n + z * h  # (B, H)
    return h_new, {"r": r, "z": z, "n": n}


def normalize_cell(cell: str, nonlinearity: str = "tanh") -> tuple[str, str]:
    """Accept "RNN" | "LSTM" | "GRU" (plus nonlinearity) or nn's mode names
    "RNN_TANH" | "RNN_RELU"; return (cell, nonlinearity)."""
    name = str(cell).upper()
    if name in ("RNN_TANH", "RNN_RELU"):
        return "RNN", name[4:].lower()
    if name not in CELL_GATES:
        raise ValueError(f"cell must be 'RNN', 'LSTM' or 'GRU' (or 'RNN_TANH'/'RNN_RELU'), got {cell!r}")
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return name, nonlinearity


class ScratchRNN(nn.Module):
    """A stack of recurrent layers written from the cell equations (see `rnn_step`,
    `lstm_step`, `gru_step`), with nn.RNN/nn.LSTM/nn.GRU's parameters and call contract.

    Layer l > 0 reads the concatenated outputs of both directions of layer l-1 (size D*H).
    The reverse direction reads the sequence from the last step to the first; its outputs
    are stored back in time order, so output[t] = [h_fwd(t), h_bwd(t)].
    """

    def __init__(self, cell, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, bidirectional=False, nonlinearity="tanh", dropout=0.0):
        super().__init__()
        self.cell, self.nonlinearity = normalize_cell(cell, nonlinearity)
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
        self.gate_names = CELL_GATES[self.cell]
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
        if self.cell == "LSTM":
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
            if self.cell == "LSTM":
                h, c, gates = lstm_step(x_proj[t], h, c, w_hh, b_hh)
            elif self.cell == "GRU":
                h, gates = gru_step(x_proj[t], h, w_hh, b_hh)
            else:
                h, gates = rnn_step(x_proj[t], h, w_hh, b_hh, self.nonlinearity)
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
                hx = tuple(s.unsqueeze(1) for s in hx) if self.cell == "LSTM" else hx.unsqueeze(1)
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
        if self.cell == "LSTM":
            state = (state, torch.stack(c_n))
        if unbatched:
            output = output.squeeze(1)
            state = tuple(s.squeeze(1) for s in state) if self.cell == "LSTM" else state.squeeze(1)
        elif self.batch_first:
            output = output.transpose(0, 1)  # (B, T, D*H)
        return output, state, traces

    def forward(self, x, hx=None):
        """x: (T, B, I), or (B, T, I) if batch_first, or unbatched (T, I).
        hx: h0 (L*D, B, H), or (h0, c0) for LSTM; zeros if None.
        Returns (output (T, B, D*H), h_n (L*D, B, H)) or (output, (h_n, c_n)) for LSTM."""
        output, state, _ = self._run(x, hx, record=False)
        return output, state

    def trace(self, x, hx=None) -> dict:
        """Everything inside, per (layer, direction): {"h": (T, B, H), "c": (T, B, H) for LSTM,
        and each gate ("i","f","g","o" for LSTM, "r","z","n" for GRU): (T, B, H)}, in time
        order whatever the direction or batch_first. Unbatched input gives (T, 1, H)."""
        _, _, traces = self._run(x, hx, record=True)
        return traces
