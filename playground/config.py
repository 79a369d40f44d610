"""Model and training configuration: plain dataclasses, validated on construction.

Every field name is the one used in labels, docs and the rest of the code
(`hidden_size`, `num_layers`, `seq_len`, ...). Invalid values raise ValueError
with a message a learner can act on.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .cells import CELL_TYPES
from .vocab import TOKENIZERS

OPTIMIZERS = ("adam", "sgd", "adamw")
SAMPLERS = ("consecutive", "random")
DEVICES = ("cpu", "cuda", "mps")
INITS = ("pytorch", "uniform")
MAX_LR = 100.0      # SGD users train word models at lr 20; divergence is caught by the Trainer


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _int_at_least(name: str, value, low: int) -> None:
    _check(isinstance(value, int) and not isinstance(value, bool) and value >= low,
           f"{name} must be an integer >= {low}, got {value!r}")


def _probability(name: str, value) -> float:
    _check(isinstance(value, (int, float)) and 0.0 <= value < 1.0,
           f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def check_lr(lr) -> float:
    """lr as a float, or ValueError: SGD users go as high as 20-40 (divergence is then caught)."""
    _check(isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr <= MAX_LR,
           f"lr must be in (0, {MAX_LR:g}], got {lr!r}")
    return float(lr)


def _from_dict(cls, d: dict):
    """Build `cls` from a dict, ignoring unknown keys (older/newer checkpoints, URLs)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in dict(d).items() if k in names})


@dataclass
class ModelConfig:
    cell: str = "LSTM"          # the cell type: "RNN_TANH" | "RNN_RELU" | "LSTM" | "GRU" (cells.CELL_TYPES)
    vocab_size: int = 0         # 0 -> taken from the vocab built from the text
    embedding_dim: int = 32     # 0 -> one-hot input (input_size = vocab_size)
    hidden_size: int = 128      # features in the hidden state h
    num_layers: int = 1         # stacked recurrent layers
    dropout: float = 0.0        # between stacked layers (needs num_layers > 1 to matter)
    bidirectional: bool = False  # a next-token model must not see the future; see Trainer
    embedding_dropout: float = 0.0  # on the embedding output (the rnn's input); needs an embedding
    output_dropout: float = 0.0     # on the rnn output, before the decoder (head)
    tie_weights: bool = False   # head.weight = embedding.weight; needs embedding_dim == hidden_size
    init: str = "pytorch"       # "pytorch" (module defaults) | "uniform" (embedding, head ±0.1, head bias 0)
    forget_bias: float = 0.0    # cells with a forget gate (LSTM): added to its rows of every bias_ih; 0 = default

    def __post_init__(self):
        _check(self.cell in CELL_TYPES, f"cell must be one of {', '.join(CELL_TYPES)}, got {self.cell!r}")
        _int_at_least("vocab_size", self.vocab_size, 0)
        _int_at_least("embedding_dim", self.embedding_dim, 0)
        _int_at_least("hidden_size", self.hidden_size, 1)
        _int_at_least("num_layers", self.num_layers, 1)
        self.dropout = _probability("dropout", self.dropout)
        self.bidirectional = bool(self.bidirectional)
        self.embedding_dropout = _probability("embedding_dropout", self.embedding_dropout)
        _check(self.embedding_dim or not self.embedding_dropout,
               "embedding_dropout needs an embedding (embedding_dim > 0); one-hot input has none")
        self.output_dropout = _probability("output_dropout", self.output_dropout)
        self.tie_weights = bool(self.tie_weights)
        self._check_tie()
        _check(self.init in INITS, f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        _check(isinstance(self.forget_bias, (int, float)) and not isinstance(self.forget_bias, bool),
               f"forget_bias must be a number, got {self.forget_bias!r}")
        self.forget_bias = float(self.forget_bias)
        with_forget = [name for name, ct in CELL_TYPES.items() if ct.forget_gate]
        _check(CELL_TYPES[self.cell].forget_gate or not self.forget_bias,
               f"forget_bias is for {' and '.join(with_forget)} only (the {self.cell} cell has no "
               "forget gate); set it to 0")

    def _check_tie(self) -> None:
        """Tied weights: the decoder (D*H -> V) reuses the embedding's (V, E) matrix."""
        if not self.tie_weights:
            return
        _check(self.embedding_dim > 0, "tie_weights needs an embedding (embedding_dim > 0): "
               "with one-hot input there is no embedding matrix to share with the decoder")
        out = self.num_directions * self.hidden_size
        _check(self.embedding_dim == out,
               f"tie_weights needs embedding_dim == hidden_size{' × 2 (bidirectional)' if self.bidirectional else ''}: "
               f"the decoder's weight (|V|, {out}) must be the embedding's (|V|, {self.embedding_dim}). "
               f"Set both to the same size, or turn tie_weights off")

    @property
    def input_size(self) -> int:
        """Features fed to the first recurrent layer: embedding_dim, or vocab_size for one-hot."""
        return self.embedding_dim or self.vocab_size

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return _from_dict(cls, d)


@dataclass
class TrainConfig:
    seq_len: int = 64           # time steps per training window (num_steps in d2l)
    batch_size: int = 32        # windows per minibatch
    lr: float = 3e-3            # learning rate, at most MAX_LR
    optimizer: str = "adam"     # "adam" | "sgd" | "adamw"
    clip: float = 1.0           # max global gradient norm; 0 = no clipping
    sampler: str = "consecutive"  # "consecutive" (state carried, detached) | "random" (state reset)
    seed: int = 0               # seeds weights, sampling and dropout
    device: str = "cpu"         # "cpu" | "cuda" | "mps"
    val_fraction: float = 0.1   # tail of the text held out for validation loss
    tokenizer: str = "char"     # "char" | "word" (whitespace runs kept) | "word_ws" (split, <eos>)
    min_freq: int = 0           # tokens rarer than this map to <unk>
    anneal_factor: float = 0.0  # lr /= this when validation loss does not beat its best; 0 or 1 = off
    text_id: str = ""           # the text trained on: a corpus key, "sha256:<hex>" of own text ("" unknown)

    def __post_init__(self):
        _int_at_least("seq_len", self.seq_len, 1)
        _int_at_least("batch_size", self.batch_size, 1)
        self.lr = check_lr(self.lr)
        _check(self.optimizer in OPTIMIZERS,
               f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        _check(isinstance(self.clip, (int, float)) and self.clip >= 0,
               f"clip must be >= 0 (0 turns clipping off), got {self.clip!r}")
        self.clip = float(self.clip)
        _check(self.sampler in SAMPLERS,
               f"sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        _int_at_least("seed", self.seed, 0)
        _check(self.device in DEVICES,
               f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        _check(isinstance(self.val_fraction, (int, float)) and 0 <= self.val_fraction < 0.5,
               f"val_fraction must be in [0, 0.5), got {self.val_fraction!r}")
        self.val_fraction = float(self.val_fraction)
        _check(self.tokenizer in TOKENIZERS,
               f"tokenizer must be one of {', '.join(TOKENIZERS)}, got {self.tokenizer!r}")
        _int_at_least("min_freq", self.min_freq, 0)
        _check(isinstance(self.anneal_factor, (int, float)) and not isinstance(self.anneal_factor, bool)
               and (self.anneal_factor == 0 or self.anneal_factor >= 1),
               f"anneal_factor must be 0 or 1 (off) or > 1 (lr is divided by it), got {self.anneal_factor!r}")
        self.anneal_factor = float(self.anneal_factor)
        _check(isinstance(self.text_id, str), f"text_id must be a string, got {self.text_id!r}")

    @property
    def anneals(self) -> bool:
        return self.anneal_factor > 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return _from_dict(cls, d)
