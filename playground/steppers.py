"""How `generate` steps a model one token at a time: three ways, chosen by `stepper`.

Each stepper is called with token ids (the prefix first, then one id per step) and returns
(the next token's logits (V,) as numpy, the watched unit's value or NaN), carrying the
recurrent state between calls.

- `ModuleStepper`: the model's own recurrent module, one call per token (GPU, bidirectional
  or projected stacks, other dtypes).
- `NumpyStepper`: the fast path for a cell type with a numpy step (playground/numpy_steps.py).
- `CellStepper`: every layer stepped with the cell type's torch step, one unit clamped and/or
  read out; also the path of a cell type that has no numpy step.

A clamp or watch is any object with `layer`, `direction`, `unit`, `quantity` (and a clamp's
`value`): playground/generate.py's `Clamp` and `Watch`.
"""
from __future__ import annotations

import numpy as np
import torch

from .cells import CellType, cell_type_of, keep, layer_weights


class ModuleStepper:
    """The general path: the model's own recurrent module, state carried, one call for the
    prefix and one per token."""

    def __init__(self, model):
        self.model, self.state = model, None  # nn's (L*D, 1, H), or (h_n, c_n) with a cell state
        self.device = next(model.parameters()).device

    def __call__(self, ids: list[int]) -> tuple[np.ndarray, float]:
        x = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)
        logits, self.state = self.model(x, self.state)                 # (1, T, V)
        return logits[0, -1].float().cpu().numpy(), float("nan")       # (V,)


class NumpyStepper:
    """The fast path, for a unidirectional stack on the CPU in float32. The prefix goes
    through the module in one call. Each later token costs one fused torch matmul per layer,
    written into a preallocated buffer, and the cell type's numpy step on views of the same
    memory (a numpy op on a few hundred floats costs a fraction of a torch op's dispatch;
    nn.LSTM's per-call overhead is ~3x a token's arithmetic). Layer l's new h_l feeds two
    products, so they are one matmul:

        [W_hh,l h_l + b_h,l  |  W_ih,l+1 h_l + b_x,l+1  (or W_head h_l + b_head on top)]
         its own next step      layer l+1's input now      the logits of the next token

    The embedding is folded into layer 0's input projection: every token's row
        table[v] = W_ih,0 e_v + b_x,0     (|V|, G*H),  e_v = embedding | one-hot
    is computed once, so a step looks up one row. Gate rows follow the numpy step's
    `row_order` (LSTM (i, f, o, g): the three sigmoids are one slice)."""

    def __init__(self, model, ct: CellType):
        rnn, H, ns = model.rnn, model.rnn.hidden_size, ct.numpy_step
        order = torch.tensor(ns.row_order(H)) if ns.row_order else torch.arange(len(ct.gates) * H)
        inputs = model.one_hot_or_embed(torch.arange(model.head.out_features)[None])[0]  # (V, I)
        b_x = _biases(rnn, 0, order, ns.fold_bias_hh)[0]
        self.table = torch.nn.functional.linear(inputs, rnn.weight_ih_l0[order], b_x).numpy()  # (V, G*H)
        self.layers = [self._layer(rnn, layer, order, model.head, ns.fold_bias_hh)
                       for layer in range(rnn.num_layers)]
        self.cell_step, self.prefix = ns.fn, ModuleStepper(model)

    @staticmethod
    def _layer(rnn, layer: int, order: torch.Tensor, head, fold: bool) -> tuple:
        """(fused weight (H, G*H + N), its bias (G*H + N,), h and z as torch (1, n) tensors,
        then numpy views: h, c, z's own-gates part (G*H,), its output part (N,), scratch)."""
        H, GH = rnn.hidden_size, len(order)
        w_hh = layer_weights(rnn, layer)[1][order]                                 # (G*H, H)
        b_h = _biases(rnn, layer, order, fold)[1]
        if layer + 1 < rnn.num_layers:
            w_out = layer_weights(rnn, layer + 1)[0][order]                        # (G*H, H)
            b_out = _biases(rnn, layer + 1, order, fold)[0]
        else:
            w_out, b_out = head.weight, head.bias                                  # (V, H), (V,)
        weight = torch.cat([w_hh, w_out]).t().contiguous()                         # (H, G*H + N)
        bias = torch.cat([torch.zeros(GH) if b_h is None else b_h, b_out])         # (G*H + N,)
        h_t, z_t = torch.zeros(1, H), torch.zeros(1, len(bias))
        z = z_t[0].numpy()
        return (weight, bias, h_t, z_t, h_t[0].numpy(), np.zeros(H, np.float32), z[:GH], z[GH:],
                np.zeros(H, np.float32))

    def _start(self, ids: list[int]) -> tuple[np.ndarray, float]:
        """The prefix through the module; its final state into the buffers, and each layer's
        W_hh h for the first step."""
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


def _biases(rnn, layer: int, order: torch.Tensor, fold: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(b_x, b_h) added to W_ih x and to W_hh h, gate rows in `order`: both biases on the
    input side when `fold` (b_h None); else b_ih and b_hh apart (GRU's b_hn is inside r * (...))."""
    _, _, b_ih, b_hh = layer_weights(rnn, layer)
    b_ih, b_hh = b_ih[order], b_hh[order]
    return (b_ih + b_hh, None) if fold else (b_ih, b_hh)


class CellStepper:
    """The open path: every layer stepped with the cell type's torch step, one unit clamped
    and/or one unit read out at each step. Layer 0's input projection is a row of the folded
    table W_ih e_v + b_ih (see NumpyStepper)."""

    def __init__(self, model, clamp=None, watch=None):
        self.model, self.rnn, self.cell_type = model, model.rnn, cell_type_of(model.rnn)
        self.clamp, self.watch = clamp, watch
        self.D = 2 if self.rnn.bidirectional else 1
        p = next(model.parameters())
        zeros = [p.new_zeros(1, self.rnn.hidden_size) for _ in range(self.rnn.num_layers * self.D)]
        self.h = list(zeros)  # per (layer * D + direction): (1, H)
        self.c = list(zeros) if self.cell_type.has_cell_state else [None] * len(zeros)
        self.weights = [[list(layer_weights(self.rnn, layer, d)) for d in range(self.D)]
                        for layer in range(self.rnn.num_layers)]
        ids = torch.arange(model.head.out_features, device=p.device)[None]      # (1, V)
        inputs = model.one_hot_or_embed(ids)[0]                                  # (V, I)
        self.tables = [torch.nn.functional.linear(inputs, w_ih, b_ih)            # (V, G*H) per direction:
                       for w_ih, _, b_ih, _ in self.weights[0]]                  # layer 0's W_ih e + b_ih

    def _here(self, where, layer: int, d: int):
        return where if where is not None and (where.layer, where.direction) == (layer, d) else None

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
                values = cell_step(self.cell_type, x_proj, self.h[k], self.c[k], w_hh, b_hh,
                                   self._here(self.clamp, layer, d))
                self.h[k], self.c[k] = values["h"], values.get("c")
                if self._here(self.watch, layer, d):
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


def cell_step(ct: CellType, x_proj, h, c, w_hh, b_hh, clamp=None) -> dict:
    """One step of one layer, {"h", "c" (with a cell state), gates...} each (1, H), with
    `clamp` applied: a clamped gate or c is fixed as the cell type's step computes it, so the
    rest of the step (c, n, h) uses the clamped value; a clamped h is set last."""
    q = clamp.quantity if clamp is not None else None
    fix = keep if q in (None, "h") else (lambda name, v: _set_unit(v, clamp.unit, clamp.value) if name == q else v)
    h_new, c_new, gates = ct.step(x_proj, h, c, w_hh, b_hh, fix)
    if q == "h":
        h_new = _set_unit(h_new, clamp.unit, clamp.value)
    return {"h": h_new, **({"c": c_new} if ct.has_cell_state else {}), **gates}


def stepper(model, clamp=None, watch=None):
    """The open path when a unit is clamped or watched, or the cell type has no numpy step;
    else the numpy path where it applies (CPU, float32, one direction, no projection,
    biases); else the module."""
    ct = cell_type_of(model.rnn)
    if watch is not None or ct.numpy_step is None:
        return CellStepper(model, clamp, watch)
    rnn = model.rnn
    plain = not rnn.bidirectional and not getattr(rnn, "proj_size", 0) and rnn.bias and model.head.bias is not None
    cpu32 = all(p.device.type == "cpu" and p.dtype == torch.float32 for p in model.parameters())
    return NumpyStepper(model, ct) if plain and cpu32 else ModuleStepper(model)
