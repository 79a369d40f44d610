"""Shapes of every weight and tensor of nn.RNN / nn.LSTM / nn.GRU (or a registered cell
type's module, laid out the same way), from the formulas.

Nothing here builds a module except `run_real`, which exists so the page (and the tests)
can hold the formulas against PyTorch itself.

Notation (one name per concept): G gates per cell (RNN 1, GRU 3, LSTM 4),
H = hidden_size, I = input_size, L = num_layers, D = num_directions (2 if bidirectional),
P = proj_size (LSTM only, 0 = off), R = P if P > 0 else H (the size of h that leaves a cell),
T = seq_len, B = batch_size.

    weight_ih_l{k} : (G·H, I)            for k = 0
                     (G·H, D·R)          for k > 0  (layer k reads both directions of layer k-1)
    weight_hh_l{k} : (G·H, R)
    bias_ih_l{k}, bias_hh_l{k} : (G·H,)  (only with bias=True)
    weight_hr_l{k} : (P, H)              (only with P > 0)
    input  : (T, B, I)      or (B, T, I) with batch_first
    output : (T, B, D·R)    or (B, T, D·R) with batch_first
    h0, h_n: (L·D, B, R)    never batch-first
    c0, c_n: (L·D, B, H)    with a cell state (LSTM) only, never batch-first

Total parameters = D · [G·H·(I + R) + (L-1)·G·H·(D·R + R) + L·2·G·H·[bias] + L·P·H].
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, replace

from .cells import CELL_TYPES, DIRECTIONS, FAMILY_GATES, GATE_MEANINGS, CellType, cell_type

GATES = FAMILY_GATES   # family -> gates in weight row order, from the registered cell types


def cell_family(cell: str) -> str:
    """The family ("RNN" | "LSTM" | "GRU": the torch module kind) of a cell type ("RNN_TANH", ...)."""
    return cell_type(cell).family


def _positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


def validate(cell, input_size, hidden_size, num_layers, proj_size, seq_len, batch_size) -> CellType:
    """Check a configuration the way PyTorch would; return the cell type or raise ValueError."""
    ct = cell_type(cell)
    family = ct.family
    for name, value in [("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_layers", num_layers), ("seq_len", seq_len),
                        ("batch_size", batch_size)]:
        _positive(name, value)
    if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
        raise ValueError(f"proj_size must be a whole number >= 0 (0 = no projection), got {proj_size!r}")
    if proj_size and family != "LSTM":
        raise ValueError(f"proj_size is only supported by LSTM, not {family}: set it to 0")
    if proj_size and proj_size >= hidden_size:
        raise ValueError(f"proj_size ({proj_size}) has to be smaller than hidden_size "
                         f"({hidden_size}): PyTorch refuses nn.LSTM(..., proj_size={proj_size})")
    return ct


Block = tuple[str, int, int]  # (label, start, stop): rows of one gate, or columns of one input


@dataclass(frozen=True)
class ParamEntry:
    """One parameter of the module, as named_parameters() lists it."""
    name: str                     # "weight_ih_l0_reverse"
    kind: str                     # "weight_ih" | "weight_hh" | "bias_ih" | "bias_hh" | "weight_hr"
    layer: int
    direction: str                # "forward" | "reverse"
    shape: tuple[int, ...]
    formula: str                  # "(4·hidden_size, input_size)"
    row_blocks: list[Block]       # gate by gate, in PyTorch's row order
    col_blocks: list[Block]       # what the columns read (empty for biases)

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class TensorShapes:
    """The shapes of a module's parameters and of one forward pass (`run_real`'s result)."""
    parameters: dict[str, tuple[int, ...]]   # named_parameters() order
    input: tuple[int, ...]
    h0: tuple[int, ...]
    c0: tuple[int, ...] | None               # None unless LSTM
    output: tuple[int, ...]
    h_n: tuple[int, ...]
    c_n: tuple[int, ...] | None              # None unless LSTM

    def tensor(self, name: str) -> tuple[int, ...] | None:
        """The shape of one of TENSORS by name ("input", "h0", "c0", "output", "h_n", "c_n")."""
        if name not in TENSORS:
            raise ValueError(f"{name!r} is not one of the tensors {', '.join(TENSORS)}")
        return getattr(self, name)


def _param_entries(gates, input_size, hidden_size, num_layers, bias, num_directions, proj_size):
    """One ParamEntry per parameter, in named_parameters() order."""
    H, P = hidden_size, proj_size
    G, R = len(gates), (proj_size or hidden_size)
    g_txt = f"{G}·hidden_size" if G > 1 else "hidden_size"
    r_txt = "proj_size" if P else "hidden_size"
    rows = [(gate, j * H, (j + 1) * H) for j, gate in enumerate(gates)]
    out = []
    for layer in range(num_layers):
        for d in range(num_directions):
            suffix = "_reverse" if d == 1 else ""
            if layer == 0:
                in_size, in_txt, cols = input_size, "input_size", [("x_t (input)", 0, input_size)]
            else:
                in_size = num_directions * R
                in_txt = f"num_directions·{r_txt}" if num_directions == 2 else r_txt
                cols = [(f"{DIRECTIONS[j]} h of layer {layer - 1}", j * R, (j + 1) * R)
                        for j in range(num_directions)]
            common = {"layer": layer, "direction": DIRECTIONS[d]}
            out.append(ParamEntry(**common, name=f"weight_ih_l{layer}{suffix}", kind="weight_ih",
                            shape=(G * H, in_size), formula=f"({g_txt}, {in_txt})",
                            row_blocks=rows, col_blocks=cols))
            out.append(ParamEntry(**common, name=f"weight_hh_l{layer}{suffix}", kind="weight_hh",
                            shape=(G * H, R), formula=f"({g_txt}, {r_txt})", row_blocks=rows,
                            col_blocks=[(f"h_(t-1) of this layer ({DIRECTIONS[d]})", 0, R)]))
            if bias:
                for kind in ("bias_ih", "bias_hh"):
                    out.append(ParamEntry(**common, name=f"{kind}_l{layer}{suffix}", kind=kind,
                                    shape=(G * H,), formula=f"({g_txt},)", row_blocks=rows,
                                    col_blocks=[]))
            if P:
                out.append(ParamEntry(**common, name=f"weight_hr_l{layer}{suffix}", kind="weight_hr",
                                shape=(P, H), formula="(proj_size, hidden_size)",
                                row_blocks=[("projection", 0, P)],
                                col_blocks=[("h_t before projection", 0, H)]))
    return out


def _total_formula(gates, bias, num_layers, proj_size) -> str:
    """Symbolic total, matching the module docstring (terms that are 0 are left out)."""
    G = len(gates)
    g = f"{G}·H" if G > 1 else "H"
    R = "P" if proj_size else "H"
    terms = [f"{g}·(I + {R})"]
    if num_layers > 1:
        terms.append(f"(L-1)·{g}·(D·{R} + {R})")
    if bias:
        terms.append(f"L·2·{g}")
    if proj_size:
        terms.append("L·P·H")
    return "D · [" + " + ".join(terms) + "]"


def substitute(formula: str, values: dict) -> str:
    """Replace the one-letter symbols of a formula by numbers: 'D·H' -> '2·20'."""
    return "".join(str(values[ch]) if ch in values else ch for ch in formula)


def evaluate(formula: str, values: dict) -> int:
    """Evaluate a formula made of + - · ( ) [ ] numbers and one-letter symbols."""
    expr = substitute(formula, values).replace("·", "*").replace("[", "(").replace("]", ")")
    if set(expr) - set("0123456789+-*() "):
        raise ValueError(f"not an arithmetic formula: {formula!r}")
    return int(eval(expr, {"__builtins__": {}}, {}))  # digits and operators only (checked above)


def tensor_formulas(has_cell_state, batch_first, proj_size) -> dict:
    """The shape formula of each input/output tensor, in PyTorch's argument names."""
    r = "proj_size" if proj_size else "hidden_size"
    tb = "batch_size, seq_len" if batch_first else "seq_len, batch_size"
    state = f"(num_layers·num_directions, batch_size, {r})"
    out = {"input": f"({tb}, input_size)", "h0": state,
           "output": f"({tb}, num_directions·{r})", "h_n": state}
    if has_cell_state:
        out["c0"] = out["c_n"] = "(num_layers·num_directions, batch_size, hidden_size)"
    return out


@dataclass(frozen=True)
class ShapeReport(TensorShapes):
    """What `describe` returns. The contract's names are attributes here (they were the keys of
    a dict): parameters {name: shape}, input, h0, c0, output, h_n, c_n (c0/c_n None without a
    cell state), gates; `tensor(name)` looks one of the six tensors up by name."""
    cell: str                     # the cell type: "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU" | ...
    family: str                   # the torch module kind: "RNN" | "LSTM" | "GRU" | ...
    input_size: int
    hidden_size: int
    num_layers: int
    bias: bool
    batch_first: bool
    bidirectional: bool
    proj_size: int
    seq_len: int
    batch_size: int
    num_directions: int           # D
    real_hidden: int              # R = proj_size or hidden_size: the size of h leaving a cell
    gates: list[str]              # in weight row order: LSTM i,f,g,o; GRU r,z,n; RNN h
    details: list[ParamEntry]     # one per parameter, named_parameters() order
    total: int                    # learnable numbers in all parameters
    total_formula: str            # "D · [4·H·(I + H) + ...]"
    total_numbers: str            # the formula with the numbers put in
    symbols: dict[str, int]       # D, H, I, L, P -> their values
    tensor_formulas: dict[str, str]  # tensor name -> "(seq_len, batch_size, input_size)"

    def entry(self, name: str) -> ParamEntry:
        """The ParamEntry of parameter `name`; ValueError for a name the module does not have."""
        for e in self.details:
            if e.name == name:
                return e
        raise ValueError(f"{name} is not a parameter of {module_args(self)}")


def describe(cell, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
             bidirectional=False, proj_size=0, seq_len=5, batch_size=3) -> ShapeReport:
    """Every parameter and tensor shape of the cell type's module (nn.LSTM(...), ...), computed
    from the formulas. `cell`: a cell type ("RNN_TANH", "LSTM") or a family ("RNN", "GRU").

    Returns a ShapeReport: the contract's names ("parameters", "input", "h0", "c0", "output",
    "h_n", "c_n", "gates") are its attributes, with the same meaning as the old dict keys.
    """
    ct = validate(cell, input_size, hidden_size, num_layers, proj_size, seq_len, batch_size)
    D = 2 if bidirectional else 1
    R = proj_size or hidden_size
    T, B, L = seq_len, batch_size, num_layers
    details = _param_entries(ct.gates, input_size, hidden_size, L, bias, D, proj_size)
    lstm = ct.has_cell_state
    seq = (B, T) if batch_first else (T, B)
    total_formula = _total_formula(ct.gates, bias, L, proj_size)
    symbols = {"D": D, "H": hidden_size, "I": input_size, "L": L, "P": proj_size}
    return ShapeReport(
        cell=ct.name, family=ct.family, input_size=input_size, hidden_size=hidden_size,
        num_layers=L, bias=bool(bias), batch_first=bool(batch_first),
        bidirectional=bool(bidirectional), proj_size=proj_size,
        seq_len=T, batch_size=B, num_directions=D, real_hidden=R,
        gates=list(ct.gates),
        parameters={e.name: e.shape for e in details},
        details=details,
        input=(*seq, input_size),                  # (T, B, I) or (B, T, I)
        h0=(L * D, B, R),                          # (L·D, B, R)
        c0=(L * D, B, hidden_size) if lstm else None,   # (L·D, B, H)
        output=(*seq, D * R),                      # (T, B, D·R) or (B, T, D·R)
        h_n=(L * D, B, R),                         # (L·D, B, R)
        c_n=(L * D, B, hidden_size) if lstm else None,  # (L·D, B, H)
        total=sum(e.numel for e in details),
        total_formula=total_formula,
        total_numbers=substitute(total_formula, symbols),
        symbols=symbols,
        tensor_formulas=tensor_formulas(ct.has_cell_state, batch_first, proj_size),
    )


TENSORS = ("input", "h0", "c0", "output", "h_n", "c_n")


def tensor_axes(desc: ShapeReport, name: str) -> list[str]:
    """Axis labels of a tensor, e.g. output -> ['seq_len', 'batch_size', 'num_directions·hidden_size']."""
    return [a.strip() for a in desc.tensor_formulas[name].strip("()").split(",")]


def state_slices(desc: ShapeReport) -> list[dict]:
    """Which (layer, direction) each index of h_n / h0 / c_n holds.

    h_n.view(num_layers, num_directions, B, R)[layer, d] == h_n[layer·D + d].
    """
    D = desc.num_directions
    return [{"index": layer * D + d, "layer": layer, "direction": DIRECTIONS[d]}
            for layer in range(desc.num_layers) for d in range(D)]


def output_segments(desc: ShapeReport) -> list[dict]:
    """Where each direction sits on output's last axis: forward [..., :R], reverse [..., R:]."""
    R = desc.real_hidden
    return [{"direction": DIRECTIONS[d], "start": d * R, "stop": (d + 1) * R,
             "h_n_index": (desc.num_layers - 1) * desc.num_directions + d}
            for d in range(desc.num_directions)]


def module_args(desc: ShapeReport) -> str:
    """The constructor call, only naming arguments that differ from PyTorch's defaults."""
    args = [str(desc.input_size), str(desc.hidden_size)]
    if desc.num_layers != 1:
        args.append(str(desc.num_layers))
    for key, default in [("bias", True), ("batch_first", False), ("bidirectional", False),
                         ("proj_size", 0)]:
        if getattr(desc, key) != default:
            args.append(f"{key}={getattr(desc, key)}")
    return f"nn.{desc.family}({', '.join(args)})"


def pytorch_code(desc: ShapeReport) -> str:
    """Runnable PyTorch code for the settings in `desc`, printing the shapes the page predicts."""
    lstm = desc.c0 is not None   # a cell state: (h0, c0) in, (h_n, c_n) out
    state = "(h0, c0)" if lstm else "h0"
    result = "output, (h_n, c_n)" if lstm else "output, h_n"
    lines = [
        "import torch",
        "from torch import nn",
        "",
        f"rnn = {module_args(desc)}",
        f"x = torch.randn{desc.input}  # {desc.tensor_formulas['input']}",
        f"h0 = torch.zeros{desc.h0}  # {desc.tensor_formulas['h0']}",
    ]
    if lstm:
        lines.append(f"c0 = torch.zeros{desc.c0}  # {desc.tensor_formulas['c0']}")
    lines += [
        f"{result} = rnn(x, {state})",
        "",
        "for name, p in rnn.named_parameters():",
        "    print(name, tuple(p.shape))",
        "print('output', tuple(output.shape))  # predicted " + str(desc.output),
        "print('h_n', tuple(h_n.shape))  # predicted " + str(desc.h_n),
    ]
    if lstm:
        lines.append("print('c_n', tuple(c_n.shape))  # predicted " + str(desc.c_n))
    if desc.bidirectional:
        lines += ["", "# split the directions:",
                  f"out_dirs = output.view(*output.shape[:2], 2, {desc.real_hidden})"
                  "  # [..., 0, :] forward, [..., 1, :] reverse",
                  f"h_layers = h_n.view({desc.num_layers}, 2, {desc.batch_size}, "
                  f"{desc.real_hidden})  # [layer, direction]"]
    return "\n".join(lines).replace("·", "*")


def build_module(desc: ShapeReport, seed: int = 0):
    """The real module (nn.RNN / nn.LSTM / nn.GRU, or a registered cell type's) for the
    settings in `desc` (seeded weights)."""
    import torch

    torch.manual_seed(seed)
    kwargs = dict(num_layers=desc.num_layers, bias=desc.bias,
                  batch_first=desc.batch_first, bidirectional=desc.bidirectional)
    if desc.proj_size:  # validate() allowed it: nn.LSTM only
        kwargs["proj_size"] = desc.proj_size
    return cell_type(desc.cell).module(desc.input_size, desc.hidden_size, **kwargs)


def run_real(desc: ShapeReport, seed: int = 0, max_params: int = 5_000_000,
             max_activations: int = 20_000_000) -> TensorShapes:
    """Build the module, run one forward pass with zero initial state; return actual shapes.

    The same names as `describe`'s contract: parameters, input, h0, c0, output, h_n, c_n.
    Refuses (ValueError) settings too big to run quickly on a shared server.
    """
    import torch

    activations = desc.seq_len * desc.batch_size * desc.num_layers * \
        desc.num_directions * len(desc.gates) * desc.hidden_size
    if desc.total > max_params or activations > max_activations:
        raise ValueError(f"too big to run here ({desc.total:,} parameters, about "
                         f"{activations:,} gate activations; limits {max_params:,} and "
                         f"{max_activations:,}): make it smaller to run it for real")

    rnn = build_module(desc, seed)
    x = torch.randn(desc.input)                       # (T, B, I) or (B, T, I)
    h0 = torch.zeros(desc.h0)                         # (L·D, B, R)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "LSTM with projections is not supported with oneDNN"
        if desc.c0 is not None:                      # a cell state
            c0 = torch.zeros(desc.c0)                 # (L·D, B, H)
            output, (h_n, c_n) = rnn(x, (h0, c0))
        else:
            c0 = c_n = None
            output, h_n = rnn(x, h0)
    shape = lambda t: None if t is None else tuple(t.shape)  # noqa: E731
    return TensorShapes(parameters={n: tuple(p.shape) for n, p in rnn.named_parameters()},
                        input=shape(x), h0=shape(h0), c0=shape(c0),
                        output=shape(output), h_n=shape(h_n), c_n=shape(c_n))


def compare(desc: ShapeReport, actual: TensorShapes) -> list[dict]:
    """Rows of (what, predicted, actual, match) for the page's "run it for real" table."""
    rows = []
    for name in TENSORS:
        if desc.tensor(name) is not None or actual.tensor(name) is not None:
            rows.append((name, desc.tensor(name), actual.tensor(name)))
    names = list(dict.fromkeys([*desc.parameters, *actual.parameters]))
    rows += [(n, desc.parameters.get(n), actual.parameters.get(n)) for n in names]
    return [{"what": w, "predicted": str(p), "actual (PyTorch)": str(a), "match": p == a}
            for w, p, a in rows]


def weight_block(desc: ShapeReport, name: str, gate: str | None = None) -> tuple[int, int]:
    """Row range (start, stop) of `gate` in parameter `name` (whole parameter if gate is None)."""
    entry = desc.entry(name)
    if gate is None:
        return 0, entry.shape[0]
    for g, start, stop in entry.row_blocks:
        if g == gate:
            return start, stop
    raise ValueError(f"{name} has no gate {gate!r}; its row blocks are "
                     f"{[g for g, _, _ in entry.row_blocks]}")


def model_summary(cfg) -> dict:
    """The Trainer's whole next-token model (a ModelConfig with vocab_size set), layer by layer,
    from the formulas (tests hold the total against the real model's parameter count):

        embedding (V, E)       V·E        (one-hot input: none)
        embedding_dropout      0
        rnn                    describe()'s total, I = E (or V for one-hot)
        output_dropout         0
        head (V, D·H) + (V,)   V·D·H + V  (tied weights: head.weight IS embedding.weight, + V)

    Returns {"rows": [{layer, module, parameters, formula, note}], "total", "total_formula"}.
    """
    V, E, H, D = cfg.vocab_size, cfg.embedding_dim, cfg.hidden_size, 2 if cfg.bidirectional else 1
    _positive("vocab_size", V)
    rnn = describe(cfg.cell, E or V, H, cfg.num_layers, bidirectional=cfg.bidirectional)
    rnn_note = [f"dropout {cfg.dropout:g} between layers"] if cfg.num_layers > 1 and cfg.dropout else []
    if cfg.forget_bias:
        rnn_note.append(f"forget-gate bias +{cfg.forget_bias:g} in every bias_ih")   # CellType.add_forget_bias
    rows = [
        dict(layer="embedding", module=f"nn.Embedding({V}, {E})" if E else f"one_hot(x, {V})",
             parameters=V * E, formula="V·E" if E else "0",
             note="U(-0.1, 0.1)" if E and cfg.init == "uniform" else ""),
        _dropout_row("embedding_dropout", cfg.embedding_dropout, "on the embedding output"),
        dict(layer="rnn", module=_rnn_call(cfg, rnn), parameters=rnn.total,
             formula=rnn.total_formula, note="; ".join(rnn_note)),
        _dropout_row("output_dropout", cfg.output_dropout, "on the rnn output, before the head"),
        dict(layer="head", module=f"nn.Linear({D * H}, {V})",
             parameters=V if cfg.tie_weights else V * D * H + V,
             formula="V (bias only)" if cfg.tie_weights else "V·D·H + V",
             note=("weight = embedding.weight (tied, counted once)" if cfg.tie_weights else
                   "weight U(-0.1, 0.1), bias 0" if cfg.init == "uniform" else "")),
    ]
    return {"rows": rows, "total": sum(r["parameters"] for r in rows),
            "total_formula": " + ".join(r["formula"] for r in rows if r["parameters"])}


def _rnn_call(cfg, rnn: ShapeReport) -> str:
    """The model's nn.RNN/LSTM/GRU constructor call, e.g. nn.RNN(32, 64, batch_first=True, nonlinearity='relu')."""
    extra = [f"dropout={cfg.dropout:g}"] if cfg.num_layers > 1 and cfg.dropout else []
    if len([ct for ct in CELL_TYPES.values() if ct.family == rnn.family]) > 1:   # RNN: tanh | relu
        extra.append(f"nonlinearity='{cell_type(cfg.cell).nonlinearity}'")
    call = module_args(replace(rnn, batch_first=True))
    return call[:-1] + "".join(f", {e}" for e in extra) + ")"


def _dropout_row(layer: str, p: float, where: str) -> dict:
    return dict(layer=layer, module=f"nn.Dropout({p:g})", parameters=0, formula="0",
                note=f"{where}, training only" if p else "off (p = 0)")
