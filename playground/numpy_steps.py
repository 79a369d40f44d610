"""The cell equations in numpy, for fast generation (`playground/steppers.py`'s `NumpyStepper`).

A cell type may declare a `NumpyStep` (playground/cells.py); one that does not generates
through its torch step instead. Each function updates h (and c) in place from

    xg  W_ih x + b_x     (G*H,)   the input side, rows in `row_order`
    hg  W_hh h + b_h     (G*H,)   the recurrent side, same rows; may be overwritten
    tmp                  (H,)     scratch

where b_x = b_ih + b_hh and b_h = 0 when `fold_bias_hh` (the two biases only ever appear
summed), else b_x = b_ih and b_h = b_hh (GRU: b_hn sits inside r * (W_hn h + b_hn)).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class NumpyStep:
    fn: Callable[..., None]                            # (xg, hg, h, c, tmp) -> None, in place
    row_order: Callable[[int], list[int]] | None = None  # gate rows as fn reads them, given H
    fold_bias_hh: bool = True                          # b_hh may be added on the input side


def sigmoid_(a: np.ndarray) -> None:
    """a <- 1 / (1 + exp(-a)), in place."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


def lstm_rows(H: int) -> list[int]:
    """(i, f, g, o) -> (i, f, o, g): the three sigmoids become one slice."""
    return [*range(2 * H), *range(3 * H, 4 * H), *range(2 * H, 3 * H)]


def lstm(xg, hg, h, c, tmp) -> None:
    """hg: W_hh h (H-blocks i, f, o, g), xg: W_ih x + biases; h, c updated in place:
    c = f * c + i * g,  h = o * tanh(c)."""
    H = h.size
    hg += xg                                      # pre-activations (4H,)
    sigmoid_(hg[:3 * H])                          # i, f, o
    g = np.tanh(hg[3 * H:], out=hg[3 * H:])
    np.multiply(hg[:H], g, out=tmp)               # i * g
    c *= hg[H:2 * H]
    c += tmp                                      # c = f * c + i * g
    np.tanh(c, out=h)
    h *= hg[2 * H:3 * H]                          # h = o * tanh(c)


def gru(xg, hg, h, c, tmp) -> None:
    """hg: W_hh h + b_hh (r, z, n), xg: W_ih x + b_ih; h updated in place:
    n = tanh(x_n + r * (W_hn h + b_hn)),  h = n + z * (h - n)."""
    H = h.size
    rz = hg[:2 * H]
    rz += xg[:2 * H]
    sigmoid_(rz)                                  # r, z
    n = np.multiply(rz[:H], hg[2 * H:], out=tmp)  # r * (W_hn h + b_hn)
    n += xg[2 * H:]
    np.tanh(n, out=n)
    h -= n
    h *= rz[H:]
    h += n                                        # h = (1 - z) * n + z * h


def rnn_tanh(xg, hg, h, c, tmp) -> None:
    """h = tanh(pre)."""
    np.tanh(np.add(hg, xg, out=hg), out=h)


def rnn_relu(xg, hg, h, c, tmp) -> None:
    """h = relu(pre)."""
    np.maximum(np.add(hg, xg, out=hg), 0, out=h)


LSTM = NumpyStep(lstm, row_order=lstm_rows)
GRU = NumpyStep(gru, fold_bias_hh=False)
RNN_TANH = NumpyStep(rnn_tanh)
RNN_RELU = NumpyStep(rnn_relu)
