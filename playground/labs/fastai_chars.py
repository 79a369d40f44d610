"""Lab 2 — fast.ai lesson 6 character models, from unrolled to nn.RNN (seed 001).

Every model reads token ids x (B, T) and returns log-probabilities of the next character.

    Char3Model          three characters -> the fourth; three hand-written steps, shared weights
    CharLoopModel       the same step in a loop over any T:  h = tanh(W_hh (h + relu(W_in e_t)))
    CharLoopConcatModel concatenate instead of add:         h = tanh(W_hh relu(W_in [h; e_t]))
    CharRnn             nn.RNN does the loop; only the last output predicts   (B, V)
    CharSeqRnn          nn.RNN, an output at every step (non-overlapping windows)  (B, T, V)
"""
from __future__ import annotations

import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from playground import corpora

DEMO_TEXT = "I love this game"
TRAIN_TEXT = (
    "I love this game. I love the long games and the short games. "
    "This game is a good game to play with a friend; we play it every night. "
    "The rules are simple: move one piece, then let the other player move. "
    "I love to win this game, but a lost game is a lesson too. "
) * 2


class Char3Model(nn.Module):
    """h_1 = tanh(W_hh (0 + a_1)), h_2 = tanh(W_hh (h_1 + a_2)), h_3 = tanh(W_hh (h_2 + a_3)),
    a_t = relu(W_in emb(c_t)); y = log_softmax(W_out h_3). Needs exactly T = 3."""

    def __init__(self, vocab_size: int, n_fac: int = 16, hidden_size: int = 32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_fac, hidden_size)
        self.l_hidden = nn.Linear(hidden_size, hidden_size)
        self.l_out = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != 3:
            raise ValueError(f"Char3Model reads exactly 3 characters, got seq_len={x.shape[1]}")
        in1 = F.relu(self.l_in(self.embedding(x[:, 0])))     # (B, H)
        in2 = F.relu(self.l_in(self.embedding(x[:, 1])))     # (B, H)
        in3 = F.relu(self.l_in(self.embedding(x[:, 2])))     # (B, H)
        h = torch.zeros_like(in1)                            # (B, H)
        h = torch.tanh(self.l_hidden(h + in1))               # (B, H)
        h = torch.tanh(self.l_hidden(h + in2))               # (B, H)
        h = torch.tanh(self.l_hidden(h + in3))               # (B, H)
        return F.log_softmax(self.l_out(h), dim=-1)          # (B, V)


class CharLoopModel(nn.Module):
    """Char3Model folded into a loop: h_t = tanh(W_hh (h_{t-1} + relu(W_in emb(c_t))))."""

    def __init__(self, vocab_size: int, n_fac: int = 16, hidden_size: int = 32):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_fac, hidden_size)
        self.l_hidden = nn.Linear(hidden_size, hidden_size)
        self.l_out = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.shape[0], self.hidden_size)        # (B, H)
        for t in range(x.shape[1]):
            inp = F.relu(self.l_in(self.embedding(x[:, t])))  # (B, H)
            h = torch.tanh(self.l_hidden(h + inp))           # (B, H)
        return F.log_softmax(self.l_out(h), dim=-1)          # (B, V)


class CharLoopConcatModel(nn.Module):
    """h_t = tanh(W_hh relu(W_in [h_{t-1}; emb(c_t)])): concatenating keeps the state and the
    input apart instead of summing them into one vector."""

    def __init__(self, vocab_size: int, n_fac: int = 16, hidden_size: int = 32):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(vocab_size, n_fac)
        self.l_in = nn.Linear(n_fac + hidden_size, hidden_size)
        self.l_hidden = nn.Linear(hidden_size, hidden_size)
        self.l_out = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.shape[0], self.hidden_size)        # (B, H)
        for t in range(x.shape[1]):
            inp = torch.cat((h, self.embedding(x[:, t])), dim=1)  # (B, H + F)
            h = torch.tanh(self.l_hidden(F.relu(self.l_in(inp))))  # (B, H)
        return F.log_softmax(self.l_out(h), dim=-1)          # (B, V)


class CharRnn(nn.Module):
    """nn.RNN runs the loop: h_t = tanh(W_ih e_t + b_ih + W_hh h_{t-1} + b_hh); the last
    output h_T predicts the next character."""

    def __init__(self, vocab_size: int, n_fac: int = 16, hidden_size: int = 32):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, n_fac)
        self.rnn = nn.RNN(n_fac, hidden_size, batch_first=True)
        self.l_out = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(x))                 # (B, T, H)
        return F.log_softmax(self.l_out(out[:, -1]), dim=-1)  # (B, V)


class CharSeqRnn(CharRnn):
    """Same layers as CharRnn, but every output h_t predicts character t + 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(x))                 # (B, T, H)
        return F.log_softmax(self.l_out(out), dim=-1)        # (B, T, V)


MODELS = {"Char3Model": Char3Model, "CharLoopModel": CharLoopModel,
          "CharLoopConcatModel": CharLoopConcatModel, "CharRnn": CharRnn, "CharSeqRnn": CharSeqRnn}


def overlapping_windows(text: str, seq_len: int) -> list[tuple[str, str]]:
    """Every window of seq_len characters (stride 1) and the one character after it."""
    return [(text[i:i + seq_len], text[i + seq_len]) for i in range(len(text) - seq_len)]


def nonoverlapping_windows(text: str, seq_len: int) -> list[tuple[str, str]]:
    """Windows with stride seq_len; the target is the window shifted one character right."""
    return [(text[i:i + seq_len], text[i + 1:i + seq_len + 1])
            for i in range(0, len(text) - seq_len, seq_len)]


def hidden_to_hidden(model: nn.Module) -> torch.Tensor:
    """The weight multiplying the previous state: rnn.weight_hh_l0 or l_hidden.weight."""
    return model.rnn.weight_hh_l0 if hasattr(model, "rnn") else model.l_hidden.weight


def make_data(name: str, text: str, seq_len: int, stoi: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(X, Y) ids for a model: Char3 uses 3 characters, CharSeqRnn non-overlapping windows."""
    n = 3 if name == "Char3Model" else seq_len
    if name == "CharSeqRnn":
        pairs = nonoverlapping_windows(text, n)
    else:
        pairs = overlapping_windows(text, n)
    X = torch.tensor([[stoi[c] for c in a] for a, _ in pairs])   # (N, T)
    Y = torch.tensor([[stoi[c] for c in b] for _, b in pairs])   # (N, 1) or (N, T)
    return X, Y.squeeze(1) if Y.shape[1] == 1 else Y


def train_char_models(text: str = TRAIN_TEXT, seq_len: int = 8, epochs: int = 60,
                      lr: float = 1e-2, n_fac: int = 16, hidden_size: int = 32,
                      identity_init: bool = False, seed: int = 0) -> dict[str, list[float]]:
    """Train every model full-batch with Adam on the same text; return its loss per epoch
    (mean negative log-likelihood per predicted character, nats)."""
    if len(text) <= seq_len + 1:
        raise ValueError(f"the text needs more than seq_len + 1 = {seq_len + 1} characters")
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    curves = {}
    for name, cls in MODELS.items():
        torch.manual_seed(seed)
        model = cls(len(chars), n_fac, hidden_size)
        if identity_init:
            with torch.no_grad():
                hidden_to_hidden(model).copy_(torch.eye(hidden_size))
        X, Y = make_data(name, text, seq_len, stoi)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        curves[name] = []
        for _ in range(epochs):
            optimizer.zero_grad()
            logp = model(X)                                   # (N, V) or (N, T, V)
            loss = F.nll_loss(logp.reshape(-1, len(chars)), Y.reshape(-1))
            loss.backward()
            optimizer.step()
            curves[name].append(loss.item())
    return curves


def run(seq_len: int = 8, epochs: int = 60, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """The five models trained twice: default init and weight_hh = identity."""
    return {init: train_char_models(seq_len=seq_len, epochs=epochs, seed=seed, identity_init=ident)
            for init, ident in (("default", False), ("identity", True))}


# --- the seed's scale --------------------------------------------------------------------------
# The seed (fast.ai lesson 6) trains on Nietzsche's prose with n_fac 42, n_hidden 256, batch
# 512 and 8-character windows, Adam at 1e-2. Here: the PyTorch docstrings corpus (real English,
# read from the local torch install), the same sizes, a fixed number of steps per model.
SEED_SCALE = dict(n_fac=42, hidden_size=256, batch_size=512, seq_len=8)
INITS = {"default": False, "identity": True}
CHARS_READ = {"Char3Model": 3, "CharLoopModel": 8, "CharLoopConcatModel": 8, "CharRnn": 8,
              "CharSeqRnn": 8}


def encode_text(text: str, val_fraction: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Character ids of the text split into train (first part) and validation (last part)."""
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([stoi[c] for c in text])               # (N,)
    n_val = int(len(ids) * val_fraction)
    if n_val < 64 or len(ids) - n_val < 64:
        raise ValueError(f"the text is too short to split: {len(ids)} characters")
    return ids[:-n_val], ids[-n_val:], chars


def windows_before(ids: torch.Tensor, ends: torch.Tensor, n: int) -> torch.Tensor:
    """The n characters before each position in `ends`: (len(ends), n)."""
    return ids[ends.view(-1, 1) + torch.arange(-n, 0)]        # (B, n)


def sample_batch(name: str, ids: torch.Tensor, batch_size: int, seq_len: int,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random training batch as the seed laid it out: overlapping windows -> next character
    (Char3Model: 3 characters), or for CharSeqRnn non-overlapping windows -> shifted by one."""
    if name == "CharSeqRnn":
        starts = seq_len * torch.randint(0, (len(ids) - 1) // seq_len, (batch_size,), generator=gen)
        X = windows_before(ids, starts + seq_len, seq_len)             # (B, T)
        return X, windows_before(ids, starts + seq_len + 1, seq_len)   # (B, T)
    ends = torch.randint(seq_len, len(ids), (batch_size,), generator=gen)  # same targets for all
    X = windows_before(ids, ends, min(CHARS_READ[name], seq_len))  # (B, n)
    return X, ids[ends]                                             # (B, n), (B,)


@torch.no_grad()
def validation_losses(model: nn.Module, name: str, val_ids: torch.Tensor, seq_len: int,
                      max_windows: int = 16384, batch_size: int = 1024) -> torch.Tensor:
    """NLL (nats) of the character at each of up to max_windows evenly spaced validation
    positions p, read from the characters before p: 3 for Char3Model, seq_len for the others
    (CharSeqRnn: its last output). Every model is scored on the same target characters."""
    count = min(max_windows, len(val_ids) - seq_len)
    ends = torch.linspace(seq_len, len(val_ids) - 1, count).long()  # (P,)
    model.eval()
    losses = []
    for chunk in ends.split(batch_size):
        X = windows_before(val_ids, chunk, min(CHARS_READ[name], seq_len))  # (b, n)
        logp = model(X)                                       # (b, V) or (b, n, V)
        logp = logp[:, -1] if logp.dim() == 3 else logp       # (b, V)
        losses.append(F.nll_loss(logp, val_ids[chunk], reduction="none"))  # (b,)
    model.train()
    return torch.cat(losses)                                  # (P,)


def lr_at(step: int, steps: int, lr: float, drop_at: float = 0.75) -> float:
    """A step schedule: lr for the first part, lr / 10 after `drop_at` of the steps."""
    return lr if step < drop_at * steps else lr / 10


def train_at_scale(name: str, identity_init: bool, train_ids: torch.Tensor,
                   val_ids: torch.Tensor, vocab_size: int, steps: int, lr: float = 3e-3,
                   seed: int = 0, max_val_windows: int = 16384, on_step=None,
                   n_fac: int = 42, hidden_size: int = 256, batch_size: int = 512,
                   seq_len: int = 8) -> dict:
    """Train one model with Adam on random batches; its validation loss and timing."""
    torch.manual_seed(seed)
    model = MODELS[name](vocab_size, n_fac, hidden_size)
    if identity_init:
        with torch.no_grad():
            hidden_to_hidden(model).copy_(torch.eye(hidden_size))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    losses, start = [], time.perf_counter()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        X, Y = sample_batch(name, train_ids, batch_size, seq_len, gen)   # (B, T), (B,) | (B, T)
        optimizer.zero_grad()
        loss = F.nll_loss(model(X).reshape(-1, vocab_size), Y.reshape(-1))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if on_step:
            on_step()
    train_seconds = time.perf_counter() - start
    tail = losses[-max(1, steps // 10):]
    val = validation_losses(model, name, val_ids, seq_len, max_val_windows)   # (P,)
    return {"model": name, "init": "identity" if identity_init else "default",
            "chars read": min(CHARS_READ[name], seq_len), "steps": steps,
            "train loss": sum(tail) / len(tail),
            "val loss": val.mean().item(),
            "val se": (val.std() / len(val) ** 0.5).item() if len(val) > 1 else 0.0,
            "val chars": len(val), "seconds": train_seconds}


def run_at_scale(text: str | None = None, steps: int = 300, lr: float = 3e-3, seed: int = 0,
                 max_val_windows: int = 16384, progress=None, **sizes) -> pd.DataFrame:
    """The five models, default and identity-initialised weight_hh, at the seed's sizes
    (SEED_SCALE, overridable) on `text` (default: the PyTorch docstrings corpus).
    progress(done, total, label) is called after every training step. One row per run."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if text is None:
        text = corpora.load("torch_docs")
    sizes = {**SEED_SCALE, **sizes}
    train_ids, val_ids, chars = encode_text(text)
    runs = [(name, ident) for ident in INITS.values() for name in MODELS]
    total, done, rows = steps * len(runs), [0], []
    for name, ident in runs:
        label = f"{name}, weight_hh {'= I' if ident else 'default'}"

        def tick(label=label):
            done[0] += 1
            if progress:
                progress(done[0], total, label)

        rows.append(train_at_scale(name, ident, train_ids, val_ids, len(chars), steps, lr, seed,
                                   max_val_windows, tick, **sizes))
    table = pd.DataFrame(rows)
    table.attrs.update(text_chars=len(text), train_chars=len(train_ids), val_chars=len(val_ids),
                       vocab_size=len(chars))
    return table


def verdicts(loss: dict[tuple[str, str], float], noise: float = 0.0) -> list[dict]:
    """The seed's claims checked against measured losses {(model, init): loss} (lower is
    better). Each: claim, holds ("yes" | "no" | "partly") and the numbers that decide it;
    a difference smaller than `noise` is marked "(within noise)"."""

    def mark(x: float, y: float) -> str:
        return " (within noise)" if abs(x - y) < noise else ""

    def _pair(a: str, x: float, b: str, y: float) -> str:
        return f"{a} {x:.3f} vs {b} {y:.3f}{mark(x, y)}"

    d = {name: loss[(name, "default")] for name in MODELS}
    longer = ["CharLoopModel", "CharLoopConcatModel", "CharRnn", "CharSeqRnn"]
    beat = [n for n in longer if d[n] < d["Char3Model"]]
    ident_better = [n for n in MODELS if loss[(n, "identity")] < d[n]]

    def status(hits: list, of: list) -> str:
        return "yes" if len(hits) == len(of) else ("no" if not hits else "partly")

    return [
        {"claim": "Reading 8 characters beats reading 3 (Char3Model)",
         "holds": status(beat, longer),
         "numbers": "; ".join(_pair(n, d[n], "Char3Model", d["Char3Model"]) for n in longer)},
        {"claim": "Concatenating [h; x] beats adding h + x (CharLoopConcatModel vs CharLoopModel)",
         "holds": "yes" if d["CharLoopConcatModel"] < d["CharLoopModel"] else "no",
         "numbers": _pair("CharLoopConcatModel", d["CharLoopConcatModel"],
                          "CharLoopModel", d["CharLoopModel"])},
        {"claim": "An output at every step (CharSeqRnn) beats only the last one (CharRnn)",
         "holds": "yes" if d["CharSeqRnn"] < d["CharRnn"] else "no",
         "numbers": _pair("CharSeqRnn", d["CharSeqRnn"], "CharRnn", d["CharRnn"])},
        {"claim": "Initialising weight_hh to the identity helps",
         "holds": status(ident_better, list(MODELS)),
         "numbers": "; ".join(f"{n} {loss[(n, 'identity')]:.3f} with I vs {d[n]:.3f}"
                              f"{mark(loss[(n, 'identity')], d[n])}"
                              for n in MODELS)},
    ]


def verdict_lines(loss: dict[tuple[str, str], float], what: str, noise: float = 0.0) -> list[str]:
    """One sentence per claim, generated from the numbers, e.g. for the page."""
    word = {"yes": "Holds", "no": "Does not hold", "partly": "Holds only in part"}
    return [f"**{word[v['holds']]}:** {v['claim']} — {what}: {v['numbers']}."
            for v in verdicts(loss, noise)]
