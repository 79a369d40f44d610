"""Train page widgets: corpus, model and training settings, run controls, checkpoints.

Settings widgets are bound to the URL (`share.bound`: the URL parameter is the widget key), so
a link reproduces them, and persist for the session, so they survive a visit to another page.
Their defaults are ModelConfig()'s and TrainConfig()'s (DEFAULTS), never copied by hand.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from playground import corpora
from playground.cells import CELL_TYPES, LABELS
from playground.checkpoint import CheckpointError, read_checkpoint
from playground.config import INITS, OPTIMIZERS, SAMPLERS, TOKENIZERS, ModelConfig, TrainConfig
from playground import models
from playground.limits import check as check_limits
from playground.front import RunFront as Run, Status
from playground.train import BIDIRECTIONAL_MESSAGE, available_devices
from playground.vocab import Vocab, tokenize
from playground.ui.share import bound, out_of_range, plain, set_before_widgets, share_link
from playground.ui import OWNER_KEY, create_run, registry

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


@st.cache_data(show_spinner="Reading the corpus…", max_entries=8)
def corpus_text(key: str) -> str:
    return corpora.load(key)


@st.cache_data(show_spinner=False, max_entries=16)
def vocab_size(text: str, tokenizer: str, min_freq: int) -> int:
    return len(Vocab(tokenize(text, tokenizer), min_freq=min_freq))


def corpus_picker() -> tuple[str, str | None]:
    """(corpus key, text or None when the user's own text is missing or unreadable)."""
    keys = [*corpora.CORPORA, OWN_TEXT]
    names = {**{k: c.name for k, c in corpora.CORPORA.items()}, OWN_TEXT: "Your own text"}
    key = bound(st.selectbox, "corpus", "Corpus", keys, index=keys.index(DEFAULTS["corpus"]), format_func=names.get)
    if key != OWN_TEXT:
        text = corpus_text(key)
        st.caption(corpora.CORPORA[key].description)
    else:
        text = _own_text()
    if text:
        st.caption(f"{len(text):,} characters · {len(set(text)):,} distinct")
    return key, text


def _own_text() -> str | None:
    upload = st.file_uploader("Upload a UTF-8 .txt file", type=["txt"], key="corpus_upload")
    pasted = st.text_area("…or paste text (any language)", key="corpus_paste", height=120,
                          persist_state="session")
    if upload is not None:
        try:
            return corpora.decode_upload(upload.getvalue())
        except ValueError as e:
            st.error(f"Could not read {plain(upload.name)}: {e}"
                     + (" Training on the pasted text instead." if pasted.strip() else ""))
            if not pasted.strip():
                return None
    if pasted.strip():
        return pasted
    st.info("Upload or paste some text to train on.")
    return None


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


def same_setup(run: Run, cfg: ModelConfig, tc: TrainConfig, corpus_key: str) -> bool:
    """Would pressing Start continue `run`? (lr may differ: Start applies the sidebar's.)"""
    a = {**run.train_config.to_dict(), "lr": 0}
    b = {**tc.to_dict(), "lr": 0}
    mc = ModelConfig.from_dict({**cfg.to_dict(), "vocab_size": run.model_config.vocab_size})
    return run.corpus_key == corpus_key and mc == run.model_config and a == b


def new_run(cfg: ModelConfig, tc: TrainConfig, text: str, corpus_key: str, **trainer_kwargs) -> Run | None:
    """Create and select a run; on bad settings, remember the message for the page to show."""
    name = corpora.CORPORA[corpus_key].name if corpus_key in corpora.CORPORA else "your text"
    try:
        return create_run(cfg, tc, text, corpus_key, f"{LABELS[cfg.cell]} h{cfg.hidden_size} · {name}",
                          **trainer_kwargs)
    except (ValueError, RuntimeError) as e:
        st.session_state[ERROR_KEY] = f"Could not start: {e}"
        return None


@dataclass(frozen=True)
class Setup:
    """What the sidebar asks for in this rerun: the configs (None while invalid), the text (None
    while missing), the corpus and how many steps Start trains."""
    model_config: ModelConfig | None
    train_config: TrainConfig | None
    text: str | None
    corpus_key: str
    steps: int

    @property
    def complete(self) -> bool:
        return None not in (self.model_config, self.train_config, self.text)

    def new_run(self) -> Run | None:
        return new_run(self.model_config, self.train_config, self.text, self.corpus_key)

    def continues(self, run: Run) -> bool:
        """Would Start/Step continue `run` (lr aside: Start applies the sidebar's)?"""
        return run.is_active or same_setup(run, self.model_config, self.train_config, self.corpus_key)


def _lr_changed() -> None:
    """The lr widget moved (an explicit action): a training run takes the new lr from its next step."""
    run, lr = registry().active_run(st.session_state.get(OWNER_KEY, "")), st.session_state.get("lr")
    if run is not None and lr is not None and run.is_active and run.base_lr != lr:
        run.set_lr(lr)
        st.session_state[LR_TOAST_KEY] = f"Learning rate changed to {lr:g} from step {run.steps_done + 1}."


def _run_for(run: Run | None, setup: Setup) -> Run | None:
    """`run` if Start/Step would continue it (with the sidebar's lr), else a new run."""
    lr = setup.train_config.lr
    if run is None or not setup.continues(run):
        return setup.new_run()
    if run.base_lr != lr:
        old = run.base_lr
        run.set_lr(lr)
        st.session_state[NOTICE_KEY] = (f"Continuing from step {run.steps_done:,} with the sidebar's "
                                        f"lr {lr:g} (was {old:g}).")
    return run


def _act(run: Run | None, action: str, setup: Setup) -> None:
    """Carry out a button's action with this rerun's settings."""
    st.session_state.pop(NOTICE_KEY, None)
    if action in ("start", "step") and (run := _run_for(run, setup)) is not None:
        run.start(setup.steps) if action == "start" else run.step(1)
    elif action == "pause":
        run.resume() if run.status == Status.PAUSED else run.pause()
    elif action == "stop":
        run.stop()
    elif action == "reset":  # the old run stays on the Compare page until deleted there
        run.stop("Replaced by a fresh run (Reset).")
        registry().set_active(run.owner, None)
        if setup.complete:
            setup.new_run()


def limit_problems(cfg: ModelConfig | None, tc: TrainConfig | None, text: str | None, steps: int) -> list[str]:
    """Why this server's limits refuse these settings (empty: Start may train them)."""
    typed = out_of_range(SETTINGS)   # numbers typed outside their range (ui.share)
    if None in (cfg, tc, text):
        return typed
    _, v = parameter_count(cfg, text, tc.tokenizer)
    return typed + check_limits(cfg, tc, v, steps, registry().limits)


def controls(run: Run | None, cfg: ModelConfig | None, tc: TrainConfig | None, corpus_key: str,
             text: str | None, steps: int) -> Run | None:
    """Start, Pause/Resume, Step, Stop, Reset. A click acts, then reruns the page so every
    widget shows the new state. Returns the active run."""
    setup = Setup(cfg, tc, text, corpus_key, steps)
    too_big = limit_problems(cfg, tc, text, steps)
    ready = setup.complete and not too_big
    active = run is not None and run.is_active
    c = st.columns(5)
    clicks = {
        "start": c[0].button("Start", type="primary", disabled=not ready or active, width="stretch"),
        "pause": c[1].button("Resume" if run is not None and run.status == Status.PAUSED else "Pause",
                             disabled=not active, width="stretch"),
        "step": c[2].button("Step", disabled=not ready, width="stretch",
                            help="Exactly one optimisation step (pauses a running run). Quick clicks add up."),
        "stop": c[3].button("Stop", disabled=not active, width="stretch"),
        "reset": c[4].button("Reset", disabled=run is None, width="stretch",
                             help="Start again from fresh weights (the old run stays on the Compare page)."),
    }
    for action, clicked in clicks.items():
        if clicked:
            _act(run, action, setup)
            st.rerun()
    if too_big:
        st.error("This server's limits cannot hold these settings: " + "; ".join(too_big)
                 + ". (The limits are listed in the sidebar.)")
    if (error := st.session_state.pop(ERROR_KEY, None)):
        st.error(error)
    if (notice := st.session_state.get(NOTICE_KEY)):   # kept until the next button: the page may rerun
        st.info(notice)
    if (toast := st.session_state.pop(LR_TOAST_KEY, None)):
        st.toast(toast)
    if run is not None and ready and not active and not same_setup(run, cfg, tc, corpus_key):
        st.info("The settings differ from the last run: Start trains a new model with them.")
    return run


def apply_pending_settings() -> None:
    """Before the sidebar's widgets run: put a loaded checkpoint's settings into them."""
    set_before_widgets(st.session_state.pop(PENDING_KEY, {}))


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


def checkpoint_section(run: Run | None, text: str | None, corpus_key: str) -> None:
    """Download the run (weights + configs + vocab + history); upload one to resume it: its
    settings come into the sidebar, and Start continues it."""
    if (message := st.session_state.pop(CKPT_MESSAGE_KEY, None)):
        st.success(message)
    col1, col2 = st.columns(2)
    if run is not None:
        col1.download_button("Download checkpoint (.pt)", data=run.checkpoint_bytes,
                             file_name=f"rnn-playground-{run.label.replace(' ', '-')}.pt",
                             mime="application/octet-stream")
        col1.download_button("Download metrics (.csv)", data=lambda: run.snapshot().history.to_csv(index=False),
                             file_name="rnn-playground-history.csv", mime="text/csv")
    upload = col2.file_uploader("Resume from a checkpoint", type=["pt"], key="ckpt_upload")
    if upload is None or st.session_state.get("ckpt_loaded") == upload.file_id:
        return
    try:
        ckpt = read_checkpoint(upload.getvalue())
    except CheckpointError as e:
        col2.error(f"Could not load {plain(upload.name)}: {plain(e)}")
        return
    if text is None:
        col2.warning("Choose a corpus first: a checkpoint resumes training on the current corpus.")
        return
    tc = TrainConfig.from_dict({**ckpt["train_config"].to_dict(), "device": "cpu"})
    run = new_run(ckpt["model_config"], tc, text, corpus_key, vocab=ckpt["vocab"],
                  state_dict=ckpt["state_dict"], history=ckpt["history"])
    if run is None:
        col2.error(st.session_state.pop(ERROR_KEY, "Could not resume this checkpoint."))
        return
    st.session_state["ckpt_loaded"] = upload.file_id
    st.session_state[PENDING_KEY] = _checkpoint_settings(run.model_config, tc)
    st.session_state[CKPT_MESSAGE_KEY] = (
        f"Loaded {plain(upload.name)}: {run.label}, {run.steps_done:,} steps trained. Its settings are now in "
        "the sidebar; press Start to continue training it.")
    st.rerun()  # redraw the sidebar, the controls and the curves for the resumed run


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
