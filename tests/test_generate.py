"""generate / generate_trace: determinism, length, greedy, the recorded candidates and the neuron clamp."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from playground import corpora
from playground.cells import ScratchRNN
from playground.config import ModelConfig, TrainConfig
from playground.generate import (Clamp, Watch, _draw, generate, generate_trace, next_token_distribution,
                                 unit_quantities)
from playground.figures.generate import candidates_frame, text_html
from playground.models import CharModel
from playground.train import Trainer
from playground.vocab import Vocab

torch.set_num_threads(1)
TEXT = corpora.load("arithmetic", 20_000)  # digits, "+", "=", newline: ~14 tokens
PREFIX = "12+34="


def trained(cell: str, num_layers: int = 1, steps: int = 30):
    t = Trainer(ModelConfig(cell=cell, hidden_size=24, embedding_dim=8, num_layers=num_layers),
                TrainConfig(seq_len=16, batch_size=8, seed=0), TEXT)
    t.train_steps(steps)
    return t.model.eval(), t.vocab


@pytest.fixture(scope="module")
def lstm():
    return trained("LSTM", num_layers=2)


@pytest.fixture(scope="module")
def models(lstm):
    return {"LSTM": lstm, "GRU": trained("GRU", num_layers=2), "RNN_TANH": trained("RNN_TANH"),
            "LSTM-bi": untrained_bidirectional(lstm[1])}


def untrained_bidirectional(vocab):
    """The Trainer refuses bidirectional models (they cannot generate sensibly), but the
    stepping code must still match nn for them."""
    torch.manual_seed(0)
    cfg = ModelConfig(cell="LSTM", vocab_size=len(vocab), embedding_dim=8, hidden_size=24, bidirectional=True)
    return CharModel(cfg).eval(), vocab


def test_same_seed_same_text_and_exact_length(lstm):
    model, vocab = lstm
    for clamp in (None, Clamp(0, 3, 0.0)):
        a = generate_trace(model, vocab, PREFIX, 60, seed=7, clamp=clamp)
        b = generate_trace(model, vocab, PREFIX, 60, seed=7, clamp=clamp)
        assert a.text == b.text and len(a.tokens) == len(a.ids) == 60
        assert a.top_probs.shape == (60, 5) and a.chosen_probs.shape == (60,)
    assert generate_trace(model, vocab, PREFIX, 0).tokens == []


def test_top_k_one_equals_greedy_with_and_without_clamp(lstm):
    model, vocab = lstm
    for clamp in (None, Clamp(1, 5, 0.9, quantity="c")):
        greedy = generate_trace(model, vocab, PREFIX, 40, greedy=True, clamp=clamp).text
        assert generate_trace(model, vocab, PREFIX, 40, top_k=1, seed=3, clamp=clamp).text == greedy


def test_greedy_generate_equals_an_independent_full_forward_loop(lstm):
    """A reference written apart from generate.py: re-feed the whole text through the model
    each step and take the argmax of the last position."""
    model, vocab = lstm
    ids = vocab[list(PREFIX)]
    with torch.no_grad():
        for _ in range(30):
            logits, _ = model(torch.tensor([ids]))            # (1, T, V)
            ids.append(int(logits[0, -1].argmax()))
    assert generate(model, vocab, PREFIX, 30, greedy=True) == "".join(vocab.to_tokens(ids[len(PREFIX):]))


@pytest.mark.parametrize("name", ["LSTM", "GRU", "RNN_TANH", "LSTM-bi"])
def test_layer_by_layer_path_matches_the_fused_path(models, name):
    """Watching a unit (no clamp) steps the cells by hand; the text must not change, and the
    watched values must equal ScratchRNN.trace over the whole sequence."""
    model, vocab = models[name]
    fast = generate(model, vocab, PREFIX, 40, seed=4)
    last_layer = model.rnn.num_layers - 1
    for q in unit_quantities(model.rnn.mode):
        watch = Watch(last_layer, 2, q)
        tr = generate_trace(model, vocab, PREFIX, 40, seed=4, watch=watch)
        assert tr.text == fast
        ids = torch.tensor([vocab[list(PREFIX)] + tr.ids[:-1]])  # (1, T): what was fed
        with torch.no_grad():
            ref = ScratchRNN.from_module(model.rnn).eval().trace(model.one_hot_or_embed(ids))
        expected = ref[(last_layer, 0)][q][len(PREFIX) - 1:, 0, 2]  # (n,) the step that chose token t
        assert torch.allclose(torch.from_numpy(tr.watched), expected, atol=1e-5)


@torch.no_grad()
def reference_generate(model, vocab, prefix, length, temperature=1.0, top_k=None, greedy=False, seed=0):
    """The plain nn path, one token at a time: model(x, state), torch softmax + inverse CDF with
    one torch.rand(1) per sampled token (the generator stream generate() promises)."""
    gen = torch.Generator().manual_seed(seed)
    logits, state = model(torch.tensor([vocab[list(prefix)]]))  # (1, T, V)
    out = []
    for _ in range(length):
        if greedy:
            out.append(int(logits[0, -1].argmax()))
        else:
            cdf = next_token_distribution(logits[0, -1], temperature, top_k).cumsum(0)  # (V,)
            u = torch.rand(1, generator=gen) * cdf[-1]
            out.append(min(int(torch.searchsorted(cdf, u, right=True)), cdf.numel() - 1))
        logits, state = model(torch.tensor([out[-1:]]), state)  # (1, 1, V)
    return "".join(vocab.to_tokens(out))


@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"])
@pytest.mark.parametrize("embedding_dim,num_layers", [(8, 1), (0, 2)])
def test_fast_path_equals_the_plain_nn_path(cell, embedding_dim, num_layers):
    """The folded-embedding fast path and numpy sampling give the plain nn path's text for a
    seed (untrained weights, head scaled up so sampling is not near-uniform)."""
    vocab = Vocab(list(TEXT))
    torch.manual_seed(1)
    model = CharModel(ModelConfig(cell=cell, vocab_size=len(vocab), embedding_dim=embedding_dim,
                                  hidden_size=24, num_layers=num_layers)).eval()
    with torch.no_grad():
        model.head.weight.mul_(6)
    for kw in (dict(greedy=True), dict(seed=0), dict(seed=5, temperature=0.7), dict(seed=3, top_k=4, temperature=1.5)):
        expected = reference_generate(model, vocab, PREFIX, 120, **kw)
        assert generate(model, vocab, PREFIX, 120, **kw) == expected, kw
    assert len(set(expected)) > 2  # the check covered real sampling, not one repeated token


def test_the_nn_module_path_for_other_dtypes_gives_the_same_text(lstm):
    """float64 weights go through the nn module one token at a time (the numpy path is
    float32 only): same greedy text, same sampled text for a seed."""
    model, vocab = lstm
    wide = copy.deepcopy(model).double()
    assert generate(wide, vocab, PREFIX, 60, greedy=True) == generate(model, vocab, PREFIX, 60, greedy=True)
    assert generate(wide, vocab, PREFIX, 60, seed=11) == generate(model, vocab, PREFIX, 60, seed=11)


def test_top_candidates_are_the_softmax_of_a_direct_forward(lstm):
    model, vocab = lstm
    tr = generate_trace(model, vocab, PREFIX, 30, temperature=1.3, seed=9)
    ids = torch.tensor([vocab[list(PREFIX)] + tr.ids[:-1]])  # (1, T)
    with torch.no_grad():
        logits, _ = model(ids)  # (1, T, V)
    probs = torch.softmax(logits[0, len(PREFIX) - 1:], dim=-1)  # (n, V)
    top_p, top_i = probs.topk(5, dim=-1)
    assert torch.allclose(torch.from_numpy(tr.top_probs), top_p, atol=1e-5)
    assert tr.top_tokens == [vocab.to_tokens(row) for row in top_i.tolist()]
    chosen = probs[torch.arange(30), torch.tensor(tr.ids)]
    assert torch.allclose(torch.from_numpy(tr.chosen_probs), chosen, atol=1e-5)


@pytest.mark.parametrize("name,clamp", [
    ("LSTM", Clamp(0, 1, 3.0)), ("LSTM", Clamp(1, 0, 4.0, quantity="c")),
    ("LSTM", Clamp(0, 0, 0.0, quantity="f")), ("GRU", Clamp(0, 6, 0.0, quantity="r")),
    ("GRU", Clamp(1, 2, -3.0)), ("RNN_TANH", Clamp(0, 7, 5.0)),
])
def test_clamp_holds_the_unit_and_changes_the_output(models, name, clamp):
    model, vocab = models[name]
    tr = generate_trace(model, vocab, PREFIX, 80, greedy=True, clamp=clamp)
    assert tr.watch == clamp.watch()
    assert (tr.watched == pytest.approx(clamp.value)) and len(tr.watched) == 80
    free = generate_trace(model, vocab, PREFIX, 80, greedy=True, watch=clamp.watch())
    assert free.text == generate(model, vocab, PREFIX, 80, greedy=True)
    assert tr.text != free.text
    assert (free.watched != clamp.value).any()


def test_h_clamp_equals_editing_the_state_of_nn_lstm(lstm):
    """Oracle for a one-layer model: run nn.LSTM one token at a time and overwrite h[unit]
    (state and output) after every step."""
    model, vocab = trained("LSTM", steps=20)
    clamp = Clamp(0, 5, 2.5)
    tr = generate_trace(model, vocab, PREFIX, 40, greedy=True, clamp=clamp)
    ids, state, chosen = vocab[list(PREFIX)], None, []
    with torch.no_grad():
        for t in range(len(PREFIX) + 40 - 1):
            out, (h, c) = model.rnn(model.one_hot_or_embed(torch.tensor([[ids[t]]])), state)  # (1, 1, H)
            out[..., 5], h[..., 5] = 2.5, 2.5
            state = (h, c)
            if t >= len(PREFIX) - 1:
                ids.append(int(model.head(out)[0, -1].argmax()))
                chosen.append(ids[-1])
    assert tr.ids == chosen


@pytest.mark.parametrize("clamp,message", [
    (Clamp(2, 0, 0.0), r"layer must be in 0\.\.1"),
    (Clamp(0, 24, 0.0), r"unit must be in 0\.\.23"),
    (Clamp(0, -1, 0.0), "unit must be"),
    (Clamp(0, 0, 0.0, quantity="r"), r"quantity must be one of \['h', 'c', 'i', 'f', 'g', 'o'\]"),
    (Clamp(0, 0, 0.0, direction=1), "direction must be 0"),
    (Clamp(0, 0, float("nan")), "finite"),
])
def test_bad_clamp_is_a_clear_value_error(lstm, clamp, message):
    model, vocab = lstm
    with pytest.raises(ValueError, match=message):
        generate_trace(model, vocab, PREFIX, 5, clamp=clamp)
    if message != "finite":  # a Watch names the unit the same way, without a value
        with pytest.raises(ValueError, match=message):
            generate_trace(model, vocab, PREFIX, 5, watch=clamp.watch())


def test_bad_length_and_temperature(lstm):
    model, vocab = lstm
    with pytest.raises(ValueError, match="length must be >= 0"):
        generate_trace(model, vocab, PREFIX, -1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        generate_trace(model, vocab, PREFIX, 5, temperature=0)


def test_sampling_draws_from_the_temperature_top_k_distribution():
    """The inverse-CDF draw in _draw follows next_token_distribution (chi-square-ish check)."""
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0, -3.0])
    gen = torch.Generator().manual_seed(0)
    n = 20_000
    for temperature, top_k in ((1.0, None), (0.5, None), (2.0, 3)):
        p = next_token_distribution(logits, temperature, top_k)
        u = torch.rand(n, generator=gen).numpy()
        counts = torch.bincount(torch.tensor([_draw(logits.numpy().copy(), u[i], temperature, top_k) for i in range(n)]),
                                minlength=6).float()
        assert torch.all((counts / n - p).abs() <= 4 * (p * (1 - p) / n).sqrt() + 1e-9)
        if top_k:
            assert counts[top_k:].sum() == 0


def test_view_html_and_candidates_table(lstm):
    model, vocab = lstm
    tr = generate_trace(model, vocab, "1+1=", 12, seed=1)
    page = text_html(tr)
    assert page.count('class="gen-tok"') == 12 and page.count('class="gen-tip"') == 12
    assert '<span class="gen-prefix">1+1=</span>' in page
    table = candidates_frame(tr, 3)
    assert table["probability"].tolist() == pytest.approx(tr.top_probs[3].tolist())
    assert table["chosen"].sum() == (tr.tokens[3] in tr.top_tokens[3])
    with pytest.raises(ValueError, match=r"step must be in 0\.\.11"):
        candidates_frame(tr, 12)


def test_word_ws_text_is_spaced_and_the_prefix_gets_no_eos():
    """word_ws tokens lost their whitespace: generated words are joined by spaces (one after the
    prefix too), <eos> becomes a line end, and an unfinished prefix line does not end in <eos>."""
    from playground.generate import _prefix_tokens

    text = "the cat sat on the mat\nthe dog sat on the log\n" * 200
    t = Trainer(ModelConfig(hidden_size=16, embedding_dim=8), TrainConfig(tokenizer="word_ws", seq_len=8,
                batch_size=4), text)
    t.train_steps(5)
    assert t.vocab.tokenizer == "word_ws"                     # the config's, kept by the vocab
    assert _prefix_tokens("the cat", "word_ws") == ["the", "cat"]
    assert _prefix_tokens("the cat\n", "word_ws") == ["the", "cat", "<eos>"]
    out = generate(t.model, t.vocab, "the cat", 30, seed=0)
    words = [w for line in out.split("\n") for w in line.split(" ") if w]
    assert out.startswith((" ", "\n")) and "<eos>" not in out
    assert set(words) <= {"the", "cat", "sat", "on", "mat", "dog", "log", "<unk>"}
    assert len(words) + out.count("\n") == 30      # 30 tokens: words and line ends


def test_the_tokenizer_is_the_configs_not_guessed_from_the_vocab():
    """A word-level run whose words all fell under min_freq keeps only one-character tokens; the
    old guess from the vocab's contents called it "char" and cut the prefix into characters."""
    import io

    from playground.checkpoint import load_checkpoint, save_checkpoint
    from playground.vocab import tokenize

    text = "the cat sat on a mat\n" * 300 + "".join(f"w{i} a\n" for i in range(400))
    t = Trainer(ModelConfig(hidden_size=16, embedding_dim=8), TrainConfig(tokenizer="word", min_freq=350,
                seq_len=8, batch_size=4), text)
    t.train_steps(3)
    assert t.vocab.tokenizer == "word" and all(len(tk) == 1 for tk in t.vocab.idx_to_token[1:])
    model, vocab = t.model.eval(), t.vocab
    ids = vocab[tokenize("the cat", "word")]                    # [<unk>, " ", <unk>]: 3 tokens, not 7
    with torch.no_grad():
        p = torch.softmax(model(torch.tensor([ids]))[0][0, -1], dim=-1)   # after the prefix
    first = generate_trace(model, vocab, "the cat", 1, greedy=True).top_probs[0]
    np.testing.assert_allclose(first, p.sort(descending=True).values[:len(first)].numpy(), atol=1e-6)
    data = torch.load(io.BytesIO(save_checkpoint(t)), weights_only=True)
    assert data["vocab"]["tokenizer"] == "word"
    del data["vocab"]["tokenizer"]                              # a checkpoint from before the vocab kept it
    buf = io.BytesIO()
    torch.save(data, buf)
    assert load_checkpoint(buf.getvalue())[1].tokenizer == "word"   # read from its TrainConfig
    assert Vocab.from_dict({"idx_to_token": ["<unk>", "a"]}).tokenizer == "char"
    with pytest.raises(ValueError, match="tokenizer must be one of"):
        Vocab(["a"], tokenizer="bpe")
