"""Train page widgets: corpus, model and training settings, run controls, checkpoints.

Settings widgets are bound to the URL (`share.bound`: the URL parameter is the widget key), so
a link reproduces them, and persist for the session, so they survive a visit to another page.
Their defaults are ModelConfig()'s and TrainConfig()'s (DEFAULTS), never copied by hand.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import streamlit as st

from playground import corpora, run_setup
from playground.cells import CELL_TYPES, LABELS
from playground.checkpoint import CheckpointError, read_checkpoint
from playground.config import INITS, OPTIMIZERS, SAMPLERS, TOKENIZERS, ModelConfig, TrainConfig
from playground import models
from playground.front import RunFront as Run
from playground.train import BIDIRECTIONAL_MESSAGE, available_devices
from playground.vocab import Vocab, tokenize
from playground.ui.share import bound, out_of_range, plain, set_before_widgets, share_link
from playground.ui import OWNER_KEY, registry

OWN_TEXT = "own"
LR_CHOICES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0, 20.0, 30.0, 100.0]
CLIP_CHOICES = [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0]
DEFAULT_STEPS = 1000
DEFAULT_CORPUS = "brackets"
SETTINGS = ["corpus", "cell", "one_hot", "embedding_dim", "hidden_size", "num_layers", "dropout",
            "bidirectional", "sampler", "optimizer", "lr", "clip", "seq_len", "batch_size", "steps",
            "tokenizer", "seed", "device", "embedding_dropout", "output_dropout", "tie_weights", "init",
            "forget_bias", "anneal_factor"]  # the URL parameters, which are also the widget keys
_CONFIGS = {**ModelConfig().to_dict(), **TrainConfig().to_dict()}
DEFAULTS = {"corpus": DEFAULT_CORPUS, "one_hot": ModelConfig().embedding_dim == 0, "steps": DEFAULT_STEPS,
            **{k: v for k, v in _CONFIGS.items() if k in SETTINGS}}  # each setting's widget default
TOKENIZER_HELP = (
    "char: one token per character. word: words, punctuation runs and every whitespace run are "
    "tokens, so joining them gives the text back. word_ws: pytorch/examples word_language_model's "
    "convention: each line split on whitespace plus one <eos> token per line; whitespace is dropped "
    "and punctuation stays on its word, so it counts far fewer tokens than word. Perplexity is per "
    "token: compare it only between runs with the same tokens; bits per character compares across "
    "tokens (for word_ws, per character of the text rebuilt from its tokens: whitespace runs count "
    "as one space, since word_ws never predicts them).")
ERROR_KEY, CKPT_MESSAGE_KEY, NOTICE_KEY = "train_error", "checkpoint_message", "train_notice"
LR_TOAST_KEY = "train_lr_toast"   # "Learning rate changed ...", shown once after the lr widget moved
PENDING_KEY = "pending_settings"   # settings to put into the sidebar before its widgets run
SYNCED_KEY = "train_sidebar_run"   # the run whose settings the sidebar was last filled with
MAX_OWN_TEXTS = 200                # own texts kept for other devices opening a run's link


@st.cache_data(show_spinner="Reading the corpus…", max_entries=8)
def corpus_text(key: str) -> str:
    return corpora.load(key)


@st.cache_data(show_spinner=False, max_entries=16)
def vocab_size(text: str, tokenizer: str, min_freq: int) -> int:
    return len(Vocab(tokenize(text, tokenizer), min_freq=min_freq))


@dataclass(frozen=True)
class TextChoice:
    """The text the sidebar picked: a built-in corpus or the learner's own (uploaded or pasted)."""
    corpus_key: str             # a corpora.CORPORA key, or OWN_TEXT
    text: str | None            # None: own text missing or unreadable
    name: str                   # shown: the corpus's name, the file's name, or "pasted text 3f9a2c"

    @property
    def text_id(self) -> str:
        """What TrainConfig.text_id keeps: the corpus key, or the own text's content hash."""
        builtin = self.corpus_key in corpora.CORPORA
        return run_setup.text_id(self.corpus_key, self.text or "", builtin) if builtin or self.text else ""


@st.cache_resource(show_spinner=False)
def _own_texts() -> OrderedDict:
    """Own texts runs were trained on, by text_id, for every session of this server: a link
    opened on another device shows the run's text in its sidebar."""
    return OrderedDict()


def remember_text(choice: TextChoice) -> None:
    if choice.text and choice.corpus_key == OWN_TEXT:
        texts = _own_texts()
        texts[choice.text_id] = (choice.name, choice.text)
        while len(texts) > MAX_OWN_TEXTS:
            texts.popitem(last=False)


def known_text(tid: str) -> tuple[str, str] | None:
    """(name, text) of an own text this server has seen or the run store keeps, else None."""
    if (found := _own_texts().get(tid)) is not None or not tid.startswith(run_setup.HASH_PREFIX):
        return found
    text = registry().stored_text(tid.removeprefix(run_setup.HASH_PREFIX))
    if text is None:
        return None
    choice = (f"pasted text {run_setup.short_hash(tid)}", text)
    _own_texts()[tid] = choice
    return choice


def text_names() -> dict:
    """text_id -> shown name, for every corpus and own text this server knows."""
    return {**{k: c.name for k, c in corpora.CORPORA.items()}, **{k: v[0] for k, v in list(_own_texts().items())}}


def corpus_picker() -> TextChoice:
    """The corpus menu, with the upload and paste boxes for own text."""
    keys = [*corpora.CORPORA, OWN_TEXT]
    names = {**{k: c.name for k, c in corpora.CORPORA.items()}, OWN_TEXT: "Your own text"}
    key = bound(st.selectbox, "corpus", "Corpus", keys, index=keys.index(DEFAULTS["corpus"]), format_func=names.get)
    if key != OWN_TEXT:
        text, name = corpus_text(key), corpora.CORPORA[key].name
        st.caption(corpora.CORPORA[key].description)
    else:
        text, name = _own_text()
    if text:
        st.caption(f"{len(text):,} characters · {len(set(text)):,} distinct")
    return TextChoice(key, text, name)


def _own_text() -> tuple[str | None, str]:
    """(text or None, its shown name: the upload's file name or "pasted text <hash>")."""
    upload = st.file_uploader("Upload a UTF-8 .txt file", type=["txt"], key="corpus_upload")
    pasted = st.text_area("…or paste text (any language)", key="corpus_paste", height=120,
                          persist_state="session")
    if upload is not None:
        try:
            return corpora.decode_upload(upload.getvalue()), upload.name[:60]
        except ValueError as e:
            st.error(f"Could not read {plain(upload.name)}: {e}"
                     + (" Training on the pasted text instead." if pasted.strip() else ""))
    if pasted.strip():
        return pasted, f"pasted text {run_setup.short_hash(run_setup.text_id(OWN_TEXT, pasted, False))}"
    st.info("Upload or paste some text to train on.")
    return None, ""


def _choice(widget, key: str, label: str, options: list, **kwargs):
    """A URL-bound select/radio starting at the setting's default."""
    return bound(widget, key, label, options, index=options.index(DEFAULTS[key]), **kwargs)


def _number(widget, key: str, label: str, low, high, *args, **kwargs):
    """A URL-bound number input/slider starting at the setting's default."""
    return bound(widget, key, label, low, high, DEFAULTS[key], *args, range_check=widget is st.number_input, **kwargs)


def model_settings() -> ModelConfig | None:
    cell = _choice(st.selectbox, "cell", "Cell", list(LABELS), format_func=LABELS.get)
    one_hot = bound(st.toggle, "one_hot", "One-hot input (no embedding)", value=DEFAULTS["one_hot"],
                    help="Off: an nn.Embedding of size embedding_dim feeds the RNN. "
                         "On: each token is a one-hot vector of size |V|.")
    embedding_dim = 0 if one_hot else _number(st.number_input, "embedding_dim", "embedding_dim", 1, 1024)
    hidden_size = _number(st.number_input, "hidden_size", "hidden_size", 1, 1024)
    num_layers = _number(st.number_input, "num_layers", "num_layers", 1, 8)
    dropout = _number(st.slider, "dropout", "dropout (between layers)", 0.0, 0.9, 0.05,
                      disabled=num_layers == 1, help="Applied between stacked layers: needs num_layers > 1.")
    bidirectional = bound(st.checkbox, "bidirectional", "bidirectional", value=DEFAULTS["bidirectional"])
    with st.expander("Dropout, tied weights, initialisation"):
        knobs = _model_knobs(cell, one_hot)
    if bidirectional:
        st.warning(BIDIRECTIONAL_MESSAGE)
        return None
    return _build(ModelConfig, cell=cell, embedding_dim=int(embedding_dim), hidden_size=int(hidden_size),
                  num_layers=int(num_layers), dropout=float(dropout) if num_layers > 1 else 0.0, **knobs)


def _model_knobs(cell: str, one_hot: bool) -> dict:
    """The word_language_model knobs: two more dropouts, tied weights, init, forget-gate bias."""
    embedding_dropout = _number(
        st.slider, "embedding_dropout", "embedding_dropout (on the embedding output)", 0.0, 0.9, 0.05,
        disabled=one_hot,
        help="While training, zeroes each embedding feature with this probability (the rest are scaled "
             "by 1/(1-p)), so the RNN cannot lean on single input features. Helps when validation loss "
             "rises while training loss still falls (overfitting), e.g. word tokens on a small text; "
             "word_language_model uses 0.2. Needs an embedding (off for one-hot input).")
    output_dropout = _number(
        st.slider, "output_dropout", "output_dropout (on the RNN output, before the decoder)", 0.0, 0.9, 0.05,
        help="While training, zeroes each feature of the RNN's output with this probability before the "
             "decoder (the nn.Linear to |V| logits) reads it. Regularises the decoder, the biggest layer "
             "of a word model; word_language_model uses the same p as between layers.")
    tie_weights = bound(
        st.toggle, "tie_weights", "tie_weights (decoder weight = embedding weight)",
        value=DEFAULTS["tie_weights"], disabled=one_hot,
        help="The decoder reuses the embedding matrix: one (|V|, embedding_dim) tensor for both, "
             "|V| × embedding_dim fewer parameters. Helps word models with a big vocabulary reach a "
             "lower perplexity with fewer parameters (Press & Wolf 2017; Inan et al. 2017). Needs "
             "embedding_dim == hidden_size.")
    init = _choice(
        st.radio, "init", "init (weight initialisation)", list(INITS), horizontal=True,
        help="pytorch: each module's default initialisation. uniform: word_language_model's "
             "init_weights: embedding and decoder weights ~ U(-0.1, 0.1), decoder bias 0, so the first "
             "predictions are nearly uniform. Use it to reproduce that example.")
    forget_bias = _number(
        st.number_input, "forget_bias", "forget_bias (LSTM forget gate)", -5.0, 5.0, 0.5,
        disabled=not CELL_TYPES[cell].forget_gate,
        help="Added at initialisation to the forget gate's bias (rows hidden_size…2·hidden_size of every "
             "bias_ih): the gate starts near σ(b), 0.73 for b = 1, so cells keep their memory early in "
             "training. Helps on long-range tasks (e.g. the long-range copy corpus); Jozefowicz et al. "
             "2015 use 1. LSTM only; 0 = PyTorch's default.")
    return dict(embedding_dropout=0.0 if one_hot else float(embedding_dropout), output_dropout=float(output_dropout),
                tie_weights=bool(tie_weights) and not one_hot, init=init,
                forget_bias=float(forget_bias) if cell == "LSTM" else 0.0)


def training_settings(text: str | None = None) -> tuple[TrainConfig | None, int]:
    """(TrainConfig or None if invalid, number of steps to train). `text` (default: the chosen
    corpus) is only used to say how many tokens each tokenizer makes of it."""
    text = text if text is not None else _page_text()
    sampler = _choice(st.radio, "sampler", "Sampler", list(SAMPLERS), horizontal=True,
                      help="consecutive: rows continue across batches, hidden state carried (detached). "
                            "random: windows in random order, hidden state reset every batch.")
    optimizer = _choice(st.radio, "optimizer", "Optimizer", list(OPTIMIZERS), horizontal=True,
                        help="adam: per-weight adaptive steps, lr about 1e-3…1e-2. sgd: plain gradient steps, "
                              "large lr (word_language_model: sgd, lr 20, clip 0.25). adamw: Adam with decoupled "
                              "weight decay (PyTorch's default 0.01), which often generalises better on bigger models.")
    lr = bound(st.select_slider, "lr", "lr (learning rate)", LR_CHOICES, value=DEFAULTS["lr"], on_change=_lr_changed,
               help="Can be changed while a run trains. sgd needs large values (1…30), adam and adamw "
                               "small ones. Too large and the loss blows up: the run then stops, keeps the last "
                               "good weights and says so.")
    clip = bound(st.select_slider, "clip", "clip (max gradient norm, 0 = off)", CLIP_CHOICES, value=DEFAULTS["clip"])
    seq_len = _number(st.number_input, "seq_len", "seq_len (time steps per window)", 1, 512)
    batch_size = _number(st.number_input, "batch_size", "batch_size", 1, 512)
    steps = _number(st.number_input, "steps", "Steps to train", 1, 50_000, step=100)
    anneal_factor = _number(
        st.number_input, "anneal_factor", "anneal_factor (divide lr when validation stalls; 0 = off)", 0.0, 100.0, 1.0,
        help="At each validation (the orange points), if the validation loss is not below its best so far, "
             "lr is divided by this factor from the next step on (word_language_model: 4), marked ▼ on the "
             "loss curve; the lr metric follows. Helps sgd settle once progress stalls. 0 or 1 = off.")
    with st.expander("More"):
        tokenizer = _choice(st.radio, "tokenizer", "Tokens", list(TOKENIZERS), horizontal=True, help=TOKENIZER_HELP)
        if text:
            st.caption(token_counts_caption(text))
        seed = _number(st.number_input, "seed", "seed", 0, 2**31 - 1)
        device = bound(st.selectbox, "device", "device", available_devices())
    cfg = _build(TrainConfig, sampler=sampler, optimizer=optimizer, lr=lr, clip=clip, seq_len=int(seq_len),
                 batch_size=int(batch_size), tokenizer=tokenizer, seed=int(seed), device=device,
                 anneal_factor=float(anneal_factor))
    return cfg, int(steps)


@st.cache_data(show_spinner=False, max_entries=16)
def token_counts(text: str) -> dict[str, int]:
    """Tokens of `text` under each tokenizer."""
    return {level: len(tokenize(text, level)) for level in ("char", "word", "word_ws")}


def token_counts_caption(text: str) -> str:
    n = token_counts(text)
    return (f"This text: {n['char']:,} char tokens, {n['word']:,} word tokens (whitespace runs kept), "
            f"{n['word_ws']:,} word_ws tokens ({n['word'] / max(n['word_ws'], 1):.1f}× fewer than word).")


def _page_text() -> str | None:
    """The chosen corpus's text (built-in or pasted) for captions; None for an upload."""
    key = st.session_state.get("corpus")
    if key in corpora.CORPORA:
        return corpus_text(key)
    if st.session_state.get("corpus_upload") is not None:
        return None
    pasted = st.session_state.get("corpus_paste") or ""
    return pasted if pasted.strip() else None


def _build(cls, **kwargs):
    try:
        return cls(**kwargs)
    except ValueError as e:
        st.error(str(e))
        return None


def parameter_count(cfg: ModelConfig, text: str, tokenizer: str) -> tuple[int, int]:
    """(parameters, |V|) of the model this config would build: models.parameter_count, the
    formula (tied weights counted once)."""
    v = vocab_size(text, tokenizer, 0)
    return models.parameter_count(cfg, v), v


CONTROL_KEY = "train_in_control"   # this browser session may act on the workspace's runs


def in_control() -> bool:
    """Whether this session acts on the runs (run_controls decides; read-only viewers do not)."""
    return bool(st.session_state.get(CONTROL_KEY, True))


def _lr_changed() -> None:
    """The lr widget moved (an explicit action; a slider sends on release): a training run takes
    the new lr from its next step. Read-only viewers change nothing."""
    run, lr = registry().active_run(st.session_state.get(OWNER_KEY, "")), st.session_state.get("lr")
    if in_control() and run is not None and lr is not None and run.is_active and run.base_lr != lr:
        old = run.base_lr
        run.set_lr(lr)
        st.session_state[LR_TOAST_KEY] = (f"lr {old:g} → {lr:g}: pending, applied from step "
                                          f"{run.steps_done + 1:,} (the lr metric follows then).")


def run_settings(run: Run) -> dict:
    """Sidebar values that show `run`'s settings, its text included (own text: if this server
    still has it)."""
    values = _checkpoint_settings(run.model_config, run.train_config)
    tid = run.train_config.text_id or run.corpus_key
    if tid in corpora.CORPORA:
        values["corpus"] = tid
    elif (known := known_text(tid)) is not None:
        values.update(corpus=OWN_TEXT, corpus_paste=known[1])
    return values


def sync_sidebar(run: Run | None) -> bool:
    """Before the sidebar's widgets run: when the run on screen is not the one the sidebar last
    showed (a link opened on another device, a checkpoint loaded, a run made in another tab),
    put its settings into them. True if it did (the link's own settings then give way)."""
    pending = st.session_state.pop(PENDING_KEY, {})
    synced = run is not None and st.session_state.get(SYNCED_KEY) != run.run_id
    if synced:
        pending = {**run_settings(run), **pending}
        st.session_state[SYNCED_KEY] = run.run_id
    set_before_widgets(pending)
    return synced


def mark_synced(run: Run | None) -> None:
    """The sidebar already shows `run`'s settings (it was just made from them)."""
    st.session_state[SYNCED_KEY] = run.run_id if run is not None else None


def _checkpoint_settings(mc: ModelConfig, tc: TrainConfig) -> dict:
    """Sidebar values that reproduce a checkpoint's configs (only values the widgets can show)."""
    values = {**{k: v for k, v in mc.to_dict().items() if k in SETTINGS},
              **{k: v for k, v in tc.to_dict().items() if k in SETTINGS and k != "device"},
              "one_hot": mc.embedding_dim == 0}
    if mc.embedding_dim == 0:
        values.pop("embedding_dim", None)
    if values.get("lr") not in LR_CHOICES:
        values.pop("lr", None)
    if values.get("clip") not in CLIP_CHOICES:
        values.pop("clip", None)
    return values


def checkpoint_text(tc: TrainConfig, choice: TextChoice) -> TextChoice | None:
    """The text a checkpoint resumes on: the one it was trained on when this server has it
    (a built-in corpus, or own text seen here), else the sidebar's."""
    tid = tc.text_id
    if tid in corpora.CORPORA:
        return TextChoice(tid, corpus_text(tid), corpora.CORPORA[tid].name)
    if tid and tid == choice.text_id:
        return choice
    if (known := known_text(tid)) is not None:
        return TextChoice(OWN_TEXT, known[1], known[0])
    return choice if choice.text else None


def checkpoint_downloads(run: Run | None, col) -> None:
    if run is not None:
        stem = run_setup.safe_file_name(f"rnn-playground-{run.label}")
        col.download_button("Download checkpoint (.pt)", data=run.checkpoint_bytes, file_name=f"{stem}.pt",
                            mime="application/octet-stream")
        col.download_button("Download metrics (.csv)", data=lambda: run.snapshot().history.to_csv(index=False),
                            file_name=f"{stem}-history.csv", mime="text/csv")


def checkpoint_section(run: Run | None, choice: TextChoice, new_run) -> None:
    """Download the run (weights + configs + vocab + history); upload one to resume it: it
    becomes the run on screen, its settings (text included) fill the sidebar, and Continue
    trains it on. `new_run(mc, tc, choice, **trainer_kwargs)` makes the run."""
    if (message := st.session_state.pop(CKPT_MESSAGE_KEY, None)):
        st.success(message)
    col1, col2 = st.columns(2)
    checkpoint_downloads(run, col1)
    if not in_control():
        col2.caption("Resuming a checkpoint needs control of this link's runs (Take control above).")
        return
    upload = col2.file_uploader("Resume from a checkpoint", type=["pt"], key="ckpt_upload")
    if upload is None or st.session_state.get("ckpt_loaded") == upload.file_id:
        return
    try:
        ckpt = read_checkpoint(upload.getvalue())
    except CheckpointError as e:
        col2.error(f"Could not load {plain(upload.name)}: {plain(e)}")
        return
    text = checkpoint_text(ckpt["train_config"], choice)
    if text is None:
        col2.warning("Choose a corpus first: this checkpoint's text is not on this server, so it resumes "
                     "training on the sidebar's text.")
        return
    tc = TrainConfig.from_dict({**ckpt["train_config"].to_dict(), "device": "cpu"})
    run = new_run(ckpt["model_config"], tc, text, vocab=ckpt["vocab"], state_dict=ckpt["state_dict"],
                  history=ckpt["history"])
    if run is None:
        col2.error(st.session_state.pop(ERROR_KEY, "Could not resume this checkpoint."))
        return
    st.session_state["ckpt_loaded"] = upload.file_id
    other = "" if tc.text_id in ("", text.text_id) else " It was trained on another text, which this server does not have."
    st.session_state[CKPT_MESSAGE_KEY] = (
        f"Loaded {plain(upload.name)}: {plain(run.label)}, {run.steps_done:,} steps trained, on "
        f"{plain(text.name)}.{other} The sidebar now shows its settings; **Continue** trains it on.")
    st.rerun()  # redraw the sidebar (synced to the new run), the controls and the curves


def url_labels() -> dict:
    """How select widgets write their value in the URL (their shown label)."""
    names = {**{k: c.name for k, c in corpora.CORPORA.items()}, OWN_TEXT: "Your own text"}
    return {"cell": LABELS.get, "corpus": names.get}


def _url_values(settings: dict) -> dict:
    """Settings as a link writes them: select widgets by their shown label, booleans lower-case."""
    labels = url_labels()
    shown = {k: labels[k](v) if k in labels else v for k, v in settings.items()}
    return {k: str(v).lower() if isinstance(v, bool) else v for k, v in shown.items()}


def share_section() -> None:
    """A link with the current settings; instructors can lock or hide controls in it."""
    values = _url_values({k: st.session_state.get(k) for k in SETTINGS if k in st.session_state})
    c = st.columns(2)
    lock = c[0].multiselect("Lock (shown, cannot be changed)", SETTINGS, key="share_lock")
    hide = c[1].multiselect("Hide (fixed and not shown)", SETTINGS, key="share_hide")
    st.code(share_link("Train", values, _url_values(DEFAULTS), lock, hide), language=None, wrap_lines=True)
    st.caption("Anyone opening this link gets these settings. Locked and hidden controls make it a "
               "workshop exercise (instructor mode).")
