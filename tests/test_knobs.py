"""The word_language_model knobs (issue 14): lr range and AdamW, the two extra dropouts,
tied weights, init, forget-gate bias, lr annealing, word_ws tokens, bits per character,
their checkpoints and the architecture summary's parameter count. Pure torch, tiny sizes."""
import io
import math

import pytest
import torch

from playground import corpora, shapes
from playground.figures import curves as charts
from playground.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from playground.config import ModelConfig, TrainConfig
from playground.models import CharModel, count_parameters
from playground.sampling import consecutive_batches
from playground.train import MAX_VAL_TOKENS, Trainer, TrainingDiverged
from playground.vocab import detokenize, token_char_counts, tokenize

torch.set_num_threads(1)
BRACKETS = corpora.load("brackets", 20_000)
DOCS = corpora.load("torch_docs", 30_000)
SMALL = dict(seq_len=16, batch_size=8)


def trainer(text=BRACKETS, model=None, **train_kwargs):
    return Trainer(ModelConfig(**{"hidden_size": 32, "embedding_dim": 8, **(model or {})}),
                   TrainConfig(**{**SMALL, **train_kwargs}), text)


# ---- lr and optimizers ---------------------------------------------------------------

@pytest.mark.parametrize("lr", [20, 100])
def test_sgd_lr_up_to_100(lr):
    t = trainer(optimizer="sgd", lr=lr, clip=0.25)
    assert t.lr == lr and isinstance(t.optimizer, torch.optim.SGD)
    t.set_lr(50)
    assert t.step().lr == 50
    for bad in (0, -1, 100.5):
        with pytest.raises(ValueError, match=r"lr must be in \(0, 100\]"):
            TrainConfig(lr=bad)
        with pytest.raises(ValueError, match=r"lr must be in \(0, 100\]"):
            t.set_lr(bad)


def test_lr_100_without_clipping_is_stopped_by_the_divergence_guard():
    t = Trainer(ModelConfig(cell="RNN_RELU", hidden_size=64, embedding_dim=16),
                TrainConfig(**SMALL, optimizer="sgd", lr=100, clip=0), BRACKETS)
    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        t.train_steps(200)
    assert all(torch.isfinite(p).all() for p in t.model.parameters())
    assert t.lr == 100  # the message's "now" lr is the run's, not reset


def test_adamw_is_adam_with_decoupled_weight_decay():
    t = trainer(optimizer="adamw", lr=1e-2)
    assert type(t.optimizer) is torch.optim.AdamW and t.optimizer.param_groups[0]["weight_decay"] > 0
    losses = [m.loss for m in t.train_steps(40)]
    assert sum(losses[-5:]) < sum(losses[:5])


# ---- dropout -------------------------------------------------------------------------

def _capture(module):
    seen = {}
    def hook(_module, args, out):
        seen.update(inp=args[0].detach(), out=out[0].detach() if isinstance(out, tuple) else out.detach())
    module.register_forward_hook(hook)
    return seen


@pytest.mark.parametrize("where", ["embedding_dropout", "output_dropout"])
def test_dropout_zeroes_p_and_scales_the_rest_in_training_only(where):
    p = 0.4
    torch.manual_seed(0)
    model = CharModel(ModelConfig(vocab_size=20, embedding_dim=16, hidden_size=16, **{where: p}))
    seen = _capture(getattr(model, where))
    x = torch.randint(0, 20, (8, 50))
    model.train()
    model(x)
    a, b = seen["inp"], seen["out"]                                   # (B, T, F)
    dropped = (b == 0) & (a != 0)
    assert abs(dropped.float().mean().item() - p) < 0.03
    kept = ~dropped & (a != 0)
    assert torch.allclose(b[kept], a[kept] / (1 - p))
    model.eval()
    model(x)
    assert torch.equal(seen["inp"], seen["out"])                    # identity at evaluation


def test_dropouts_are_where_their_names_say():
    model = CharModel(ModelConfig(vocab_size=20, embedding_dim=16, hidden_size=16,
                                  embedding_dropout=0.5, output_dropout=0.5))
    emb, out = _capture(model.embedding_dropout), _capture(model.output_dropout)
    rnn, head = _capture(model.rnn), _capture(model.head)
    model(torch.randint(0, 20, (2, 5)))
    assert torch.equal(emb["out"], rnn["inp"])        # embedding_dropout feeds the rnn
    assert torch.equal(out["out"], head["inp"])       # output_dropout feeds the decoder
    with pytest.raises(ValueError, match="needs an embedding"):
        ModelConfig(embedding_dim=0, embedding_dropout=0.2)
    with pytest.raises(ValueError, match="output_dropout must be in"):
        ModelConfig(output_dropout=1.0)


# ---- tied weights --------------------------------------------------------------------

def test_tied_weights_share_one_tensor_and_count_it_once():
    cfg = dict(vocab_size=30, embedding_dim=24, hidden_size=24, num_layers=2)
    tied, untied = CharModel(ModelConfig(**cfg, tie_weights=True)), CharModel(ModelConfig(**cfg))
    assert tied.head.weight is tied.embedding.weight
    assert count_parameters(untied) - count_parameters(tied) == 30 * 24
    t = Trainer(ModelConfig(embedding_dim=32, hidden_size=32, tie_weights=True),
                TrainConfig(**SMALL, lr=1e-2), BRACKETS)
    before = t.model.embedding.weight.detach().clone()
    t.train_steps(3)
    w = t.model.embedding.weight
    assert t.model.head.weight is w and not torch.equal(w, before)  # trained as one tensor


def test_tied_weights_need_matching_sizes():
    with pytest.raises(ValueError, match="embedding_dim == hidden_size.*turn tie_weights off"):
        ModelConfig(embedding_dim=32, hidden_size=128, tie_weights=True)
    with pytest.raises(ValueError, match="needs an embedding"):
        ModelConfig(embedding_dim=0, hidden_size=128, tie_weights=True)


# ---- initialisation ------------------------------------------------------------------

def test_uniform_init_as_word_language_model():
    cfg = dict(vocab_size=200, embedding_dim=64, hidden_size=64)
    torch.manual_seed(0)
    m = CharModel(ModelConfig(**cfg, init="uniform"))
    for w in (m.embedding.weight, m.head.weight):
        assert w.abs().max() <= 0.1 and w.abs().max() > 0.099
        assert w.std().item() == pytest.approx(0.2 / math.sqrt(12), rel=0.05)   # U(-a, a): a/sqrt(3)
    assert torch.count_nonzero(m.head.bias) == 0
    default = CharModel(ModelConfig(**cfg))
    assert default.embedding.weight.std() > 0.5 and torch.count_nonzero(default.head.bias) > 0


def test_forget_bias_adds_to_the_forget_slice_of_every_bias_ih():
    cfg = dict(vocab_size=10, embedding_dim=4, hidden_size=6, num_layers=2)
    torch.manual_seed(3)
    base = CharModel(ModelConfig(**cfg))
    torch.manual_seed(3)
    biased = CharModel(ModelConfig(**cfg, forget_bias=1.5))
    H = 6
    for name, p in biased.rnn.named_parameters():
        diff = p - dict(base.rnn.named_parameters())[name]
        expected = torch.zeros_like(p)
        if name.startswith("bias_ih"):
            expected[H:2 * H] = 1.5                   # gate rows i, f, g, o: f is the second block
        assert torch.allclose(diff, expected), name
    with pytest.raises(ValueError, match="LSTM only"):
        ModelConfig(cell="GRU", forget_bias=1.0)


def test_default_knobs_change_nothing():
    """Defaults reproduce the model built before the knobs existed: same weights, same output."""
    torch.manual_seed(0)
    m = CharModel(ModelConfig(vocab_size=12, embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.3))
    torch.manual_seed(0)
    emb = torch.nn.Embedding(12, 8)
    rnn = torch.nn.LSTM(8, 16, 2, dropout=0.3, batch_first=True)
    head = torch.nn.Linear(16, 12)
    assert torch.equal(m.embedding.weight, emb.weight) and torch.equal(m.head.bias, head.bias)
    x = torch.randint(0, 12, (3, 7))
    m.eval(), rnn.eval()
    assert torch.equal(m(x)[0], head(rnn(emb(x))[0]))


# ---- annealing -----------------------------------------------------------------------

def test_annealing_fires_exactly_when_validation_loss_does_not_improve():
    t = trainer(lr=1e-2, anneal_factor=4)
    t.step()
    first = t.evaluate()
    assert not t.history["annealed"].any() and t.lr == 1e-2
    with torch.no_grad():
        t.model.head.bias[0] += 5.0                 # a worse model: validation loss rises
    t.step()
    assert t.evaluate() > first
    assert t.history["annealed"].tolist() == [False, True] and t.lr == pytest.approx(1e-2 / 4)
    assert t.base_lr == 1e-2                        # what the user asked for stays known
    assert t.step().lr == pytest.approx(1e-2 / 4)   # the lr column follows from the next step
    with torch.no_grad():
        t.model.head.bias[0] -= 5.0
    t.train_steps(20)
    assert t.evaluate() < first                     # a new best: no annealing
    assert not t.history["annealed"].iloc[-1] and t.lr == pytest.approx(1e-2 / 4)
    t.evaluate()                                    # the same step again: no second division
    assert t.lr == pytest.approx(1e-2 / 4)


def test_annealing_rule_on_a_real_run():
    """For every evaluation: annealed == (val_loss >= best before it); lr divided exactly then."""
    t = trainer(text=DOCS, optimizer="sgd", lr=30, clip=0.25, anneal_factor=2)
    for _ in range(12):
        t.train_steps(5)
        t.evaluate()
    h = t.history
    best, fired = math.inf, 0
    for i, row in h.dropna(subset=["val_loss"]).iterrows():
        assert row["annealed"] == (row["val_loss"] >= best)
        if i + 1 < len(h):
            assert h["lr"].iloc[i + 1] == pytest.approx(row["lr"] / (2 if row["annealed"] else 1))
        best, fired = min(best, row["val_loss"]), fired + row["annealed"]
    assert 0 < fired < 11                           # it both fired and held back
    assert not h.loc[h["val_loss"].isna(), "annealed"].any()       # only evaluations anneal


def test_annealing_off_never_changes_lr():
    t = trainer(lr=1e-2)
    for _ in range(4):
        t.step()
        with torch.no_grad():
            t.model.head.bias[0] += 2.0
        t.evaluate()
    assert not t.history["annealed"].any() and t.history["lr"].eq(1e-2).all()
    with pytest.raises(ValueError, match="anneal_factor"):
        TrainConfig(anneal_factor=0.5)


def test_anneal_markers_on_the_curve():
    t = trainer(lr=1e-2, anneal_factor=4)
    t.step()
    t.evaluate()
    with torch.no_grad():
        t.model.head.bias[0] += 5.0
    t.step()
    t.evaluate()
    t.step()
    fig = charts.curve_figure(t.history, "loss", 4.0, 3.0)
    marks = [tr for tr in fig.data if tr.name == "lr annealed"]
    assert len(marks) == 1 and list(marks[0].x) == [2]
    assert marks[0].y[0] == pytest.approx(t.history["val_loss"].iloc[1], rel=1e-6)
    assert "lr 0.01 → 0.0025" in marks[0].text[0]
    assert not [tr for tr in charts.curve_figure(trainer().history, "loss", 4.0, 3.0).data
                if tr.name == "lr annealed"]


# ---- tokens and bits per character ---------------------------------------------------

def _example_tokens(text):
    """pytorch/examples word_language_model data.py: for line in file: line.split() + ['<eos>']."""
    return [w for line in io.StringIO(text, newline=None) for w in line.split() + ["<eos>"]]


@pytest.mark.parametrize("text", ["a b\n\n c  d", "one line\n", "", "x\r\ny  \n z\t!", DOCS[:5000]])
def test_word_ws_is_the_example_convention(text):
    assert tokenize(text, "word_ws") == _example_tokens(text)


@pytest.mark.parametrize("level", ["char", "word", "word_ws"])
def test_detokenize_gives_text_that_tokenizes_the_same(level):
    for text in ["a b\n\n c  d", DOCS[:3000]]:
        tokens = tokenize(text, level)
        back = detokenize(tokens, level)
        assert tokenize(back, level) == tokens
        if level != "word_ws":
            assert back == text                     # char and word tokens keep every character
    assert detokenize(["a", "b", "<eos>", "<eos>", "c", "<eos>"], "word_ws") == "a b\n\nc\n"


@pytest.mark.parametrize("level", ["char", "word", "word_ws"])
def test_token_char_counts_cover_the_text_the_tokens_stand_for(level):
    for text in ["a b\n\n c  d", "ab, cd!\n", DOCS[:3000]]:
        counts, tokens = token_char_counts(text, level), tokenize(text, level)
        assert len(counts) == len(tokens) and sum(counts) == len(detokenize(tokens, level))
        if level != "word_ws":
            assert sum(counts) == len(text)
    # word_ws drops whitespace runs: "ab" 2, " cd" 3 (one space, not the two of the text), "\n" 1
    assert token_char_counts("ab  cd\n", "word_ws") == [2, 3, 1]


def test_word_keeps_whitespace_so_it_counts_more_tokens_than_word_ws():
    n_word, n_ws = len(tokenize(DOCS, "word")), len(tokenize(DOCS, "word_ws"))
    assert n_word > 1.5 * n_ws


def _scored(t, text, tokenizer):
    """(tokens, characters) that evaluate() scores, the characters counted from the text."""
    lengths = torch.tensor(token_char_counts(text, tokenizer))[len(t.train_ids):][:MAX_VAL_TOKENS]
    T = t.train_config.seq_len
    rows = max(1, min(t.train_config.batch_size, (len(lengths) - 1) // T))
    ys = [Y for _, Y in consecutive_batches(lengths, rows, T)]
    return sum(Y.numel() for Y in ys), sum(int(Y.sum()) for Y in ys)


@pytest.mark.parametrize("tokenizer", ["char", "word", "word_ws"])
def test_bits_per_character_is_total_nats_over_characters(tokenizer):
    t = trainer(text=DOCS, tokenizer=tokenizer)
    t.train_steps(3)
    val = t.evaluate()
    n_scored, chars = _scored(t, DOCS, tokenizer)
    bpc = t.history["val_bits_per_char"].iloc[-1]
    assert bpc == pytest.approx(val * n_scored / (math.log(2) * chars), rel=1e-9)
    if tokenizer == "char":
        assert bpc == pytest.approx(val / math.log(2), rel=1e-12)
    else:
        assert bpc < val / math.log(2)               # a word token covers several characters


# ---- checkpoints ---------------------------------------------------------------------

KNOBS_MODEL = dict(embedding_dim=32, hidden_size=32, num_layers=2, dropout=0.1, embedding_dropout=0.2,
                   output_dropout=0.3, tie_weights=True, init="uniform", forget_bias=1.0)


def test_checkpoint_round_trips_every_knob():
    t = trainer(text=DOCS, model=KNOBS_MODEL, optimizer="adamw", lr=20, anneal_factor=4, tokenizer="word_ws")
    t.step()
    t.evaluate()
    with torch.no_grad():
        t.model.head.bias[0] += 5.0
    t.step()
    t.evaluate()                                     # annealed: lr 20 -> 5
    data = save_checkpoint(t)
    ckpt = read_checkpoint(data)
    assert ckpt["model_config"] == t.model_config and ckpt["train_config"] == t.train_config
    model, vocab, cfg = load_checkpoint(data)
    assert model.head.weight is model.embedding.weight
    x = torch.tensor([vocab[tokenize("the input tensor\n", "word_ws")]])
    t.model.eval()
    with torch.no_grad():
        assert torch.equal(model(x)[0], t.model(x)[0])
    resumed = Trainer(cfg, ckpt["train_config"], DOCS, vocab=vocab, state_dict=ckpt["state_dict"],
                      history=ckpt["history"])
    assert resumed.lr == pytest.approx(5.0) and resumed.history["annealed"].tolist() == [False, True]
    assert resumed.model.head.weight is resumed.model.embedding.weight


def test_old_checkpoint_without_the_new_fields_loads_with_defaults():
    t = trainer()
    t.train_steps(2)
    t.evaluate()
    obj = torch.load(io.BytesIO(save_checkpoint(t)), weights_only=True)
    new_model = ("embedding_dropout", "output_dropout", "tie_weights", "init", "forget_bias")
    obj["model_config"] = {k: v for k, v in obj["model_config"].items() if k not in new_model}
    obj["train_config"] = {k: v for k, v in obj["train_config"].items() if k != "anneal_factor"}
    obj["history"] = [{k: v for k, v in r.items() if k not in ("val_bits_per_char", "annealed")}
                      for r in t.history_rows()]   # older checkpoints: history as row dicts
    buf = io.BytesIO()
    torch.save(obj, buf)
    ckpt = read_checkpoint(buf.getvalue())
    assert ckpt["model_config"] == t.model_config and ckpt["train_config"] == t.train_config
    resumed = Trainer(ckpt["model_config"], ckpt["train_config"], BRACKETS, vocab=ckpt["vocab"],
                      state_dict=ckpt["state_dict"], history=ckpt["history"])
    h = resumed.history
    assert not h["annealed"].any() and h["val_bits_per_char"].isna().all() and resumed.step().step == 3


# ---- architecture summary ------------------------------------------------------------

@pytest.mark.parametrize("cfg", [
    dict(), dict(embedding_dim=0), dict(cell="GRU", num_layers=3, dropout=0.2, output_dropout=0.5),
    dict(cell="RNN_RELU", embedding_dim=16, hidden_size=16, tie_weights=True),
    dict(KNOBS_MODEL), dict(cell="RNN_TANH", embedding_dim=0, hidden_size=7, num_layers=2),
    dict(bidirectional=True, embedding_dim=64, hidden_size=32, tie_weights=True),
])
def test_model_summary_counts_what_the_model_holds(cfg):
    config = ModelConfig(**{"vocab_size": 37, **cfg})
    summary = shapes.model_summary(config)
    assert summary["total"] == count_parameters(CharModel(config))
    assert [r["layer"] for r in summary["rows"]] == ["embedding", "embedding_dropout", "rnn",
                                                      "output_dropout", "head"]
    built = eval(summary["rows"][2]["module"], {"nn": torch.nn})  # the constructor call shown
    assert sum(p.numel() for p in built.parameters()) == summary["rows"][2]["parameters"]
