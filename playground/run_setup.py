"""What identifies a run's setup, pure (no streamlit): its text, the differences between two
setups in words, its name and a shell-safe file name.

    text_id("brackets", text)        -> "brackets"          (a built-in corpus: its key)
    text_id("own", "some text")      -> "sha256:9a1f…"      (own text: its content hash)
    differences(run_mc, run_tc, mc, tc, names) -> ["hidden_size 128 → 64", "text: … → …"]
    safe_file_name("#5 RNN (tanh) h64 · your text") -> "5-RNN-tanh-h64-your-text"
"""
from __future__ import annotations

import hashlib
import re

HASH_PREFIX = "sha256:"
IGNORED = ("lr", "device", "vocab_size", "text_id")   # lr: Continue applies the sidebar's; device: a resume is CPU


def text_hash(text: str) -> str:
    """sha256 hex of the UTF-8 text (the run store's corpus hash)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def text_id(corpus_key: str, text: str, builtin: bool) -> str:
    """The run's text, as TrainConfig.text_id keeps it: a built-in corpus by key, own text by hash."""
    return corpus_key if builtin else HASH_PREFIX + text_hash(text)


def short_hash(tid: str) -> str:
    """The first 6 hex digits of an own text's hash ("" for a corpus key)."""
    return tid[len(HASH_PREFIX):len(HASH_PREFIX) + 6] if tid.startswith(HASH_PREFIX) else ""


def _show(value) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value in (None, "") else str(value)


def differences(old_mc, old_tc, new_mc, new_tc, text_names: dict | None = None,
                labels: dict | None = None) -> list[str]:
    """What differs between a run's configs and the sidebar's, in words ("hidden_size 128 → 64",
    "text: Nested brackets → pasted text 3f9a2c"): everything but lr (Continue applies it),
    device and the vocabulary size the text fills in. `text_names`: text_id -> shown name;
    `labels`: field -> function that shows a value (e.g. the cell's label)."""
    text_names, labels = text_names or {}, labels or {}
    out = []
    if old_tc.text_id != new_tc.text_id:
        out.append(f"text: {text_name(old_tc.text_id, text_names)} → {text_name(new_tc.text_id, text_names)}")
    for old, new in ((old_mc.to_dict(), new_mc.to_dict()), (old_tc.to_dict(), new_tc.to_dict())):
        for key, value in old.items():
            if key in IGNORED or new.get(key) == value:
                continue
            show = labels.get(key, _show)
            out.append(f"{key} {show(value)} → {show(new.get(key))}")
    return out


def text_name(tid: str, names: dict | None = None) -> str:
    """A text's shown name: a corpus's name, or "text 3f9a2c" for own text (by its hash)."""
    names = names or {}
    if tid in names:
        return names[tid]
    if tid.startswith(HASH_PREFIX):
        return f"your text {short_hash(tid)}"
    return tid or "an unknown text"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_name(name: str, suffix: str = "") -> str:
    """Only [A-Za-z0-9._-]: runs of anything else become one '-', no leading '-' or '.'
    (a shell reads neither as an option or hidden file), never empty."""
    stem = re.sub(r"-{2,}", "-", _UNSAFE.sub("-", name)).strip("-.") or "run"
    return stem[:80] + suffix
