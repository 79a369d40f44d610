"""Lab 2 — fast.ai lesson 6 character models, from unrolled to nn.RNN (seed 001).

Every model reads token ids x (B, T) and returns log-probabilities of the next character.

    Char3Model          three characters -> the fourth; three hand-written steps, shared weights
    CharLoopModel       the same step in a loop over any T:  h = tanh(W_hh (h + relu(W_in e_t)))
    CharLoopConcatModel concatenate instead of add:         h = tanh(W_hh relu(W_in [h; e_t]))
    CharRnn             nn.RNN does the loop; only the last output predicts   (B, V)
    CharSeqRnn          nn.RNN, an output at every step (non-overlapping windows)  (B, T, V)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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
