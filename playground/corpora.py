"""Built-in corpora. Nothing is downloaded: text is generated, or read from the local
Python and PyTorch installation. Each corpus says in one line what it is good for.

    >>> text = load("brackets")          # default size and seed
    >>> CORPORA["brackets"].description
"""
from __future__ import annotations

import inspect
import random
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

DEFAULT_CHARS = 100_000


@dataclass(frozen=True)
class Corpus:
    key: str
    name: str                       # label shown in the UI
    description: str                # one line: what it is good for
    make: Callable[[int, int], str]  # (max_chars, seed) -> text


def hello_text(max_chars: int = 5_000, seed: int = 0) -> str:
    """"hello" on repeat: after "hel" comes "l" but after "hell" comes "o"."""
    return ("hello" * (max_chars // 5 + 1))[:max_chars]


def brackets_text(max_chars: int = DEFAULT_CHARS, seed: int = 0, max_depth: int = 8) -> str:
    """Lines of balanced brackets, e.g. "(()(()))". Closing a line correctly needs a counter."""
    rng = random.Random(seed)
    lines, n = [], 0
    while n < max_chars:
        depth, out, length = 0, [], rng.randint(2, 40)
        while len(out) < length or depth:
            can_open = depth < max_depth and len(out) < length
            if can_open and (depth == 0 or rng.random() < 0.55):
                out.append("("); depth += 1
            else:
                out.append(")"); depth -= 1
        lines.append("".join(out)); n += len(out) + 1
    return "\n".join(lines)[:max_chars]


def long_range_text(max_chars: int = DEFAULT_CHARS, seed: int = 0, gap: int = 32) -> str:
    """Lines "k:" + `gap` random filler digits + "=k": the letter k must be carried `gap` steps.
    Trained as a language model the memory signal is diluted (1 character in gap + 5); the
    memory-horizon experiment (playground/experiments/memory_horizon.py) scores only the recall."""
    rng = random.Random(seed)
    lines, n = [], 0
    while n < max_chars:
        key = rng.choice("abcdefgh")
        line = f"{key}:{''.join(rng.choice('0123456789') for _ in range(gap))}={key}"
        lines.append(line); n += len(line) + 1
    return "\n".join(lines)[:max_chars]


def arithmetic_text(max_chars: int = DEFAULT_CHARS, seed: int = 0) -> str:
    """Lines "a+b=c" with small numbers: the digits after "=" follow from the line."""
    rng = random.Random(seed)
    lines, n = [], 0
    while n < max_chars:
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        line = f"{a}+{b}={a + b}"
        lines.append(line); n += len(line) + 1
    return "\n".join(lines)[:max_chars]


def python_stdlib_text(max_chars: int = 2_000_000, seed: int = 0) -> str:
    """Source of the local Python standard library (top-level modules, sorted by name)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, n = [], 0
    for path in sorted(root.glob("*.py")):
        try:
            src = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(src); n += len(src)
        if n >= max_chars:
            break
    return "".join(parts)[:max_chars]


def torch_docs_text(max_chars: int = DEFAULT_CHARS * 10, seed: int = 0) -> str:
    """English prose: docstrings of torch.nn classes and torch.nn.functional functions."""
    import torch.nn
    import torch.nn.functional

    docs = []
    for module in (torch.nn, torch.nn.functional):
        for name in sorted(dir(module)):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                doc = inspect.getdoc(obj)
                if doc and len(doc) > 80:
                    docs.append(doc)
    return "\n\n".join(dict.fromkeys(docs))[:max_chars]


CORPORA: dict[str, Corpus] = {c.key: c for c in [
    Corpus("hello", "hello (seed example)",
           "The seed's word on repeat: learns in seconds; after 'hel' comes 'l', after 'hell' comes 'o'.",
           hello_text),
    Corpus("brackets", "Nested brackets",
           "Balanced (()(())) lines: to close them the network must count nesting depth.",
           brackets_text),
    Corpus("long_range", "Long-range copy",
           "'k:' + 32 random digits + '=k': carrying k across 34 steps. As a language model (every character "
           "scored) the one letter that needs memory is 1 in 37 and stays at chance for thousands of steps "
           "with any cell; Compare runs → 'RNN vs GRU vs LSTM' scores only the recalled letter and shows "
           "the difference in seconds.",
           long_range_text),
    Corpus("arithmetic", "Arithmetic lines",
           "Lines like 12+7=19: digits after '=' depend on the whole line.",
           arithmetic_text),
    Corpus("python", "Python standard library",
           "Megabytes of real Python source from this machine: learn to write code, Karpathy-style.",
           python_stdlib_text),
    Corpus("torch_docs", "PyTorch docstrings",
           "English prose about neural networks, from torch.nn's own docstrings.",
           torch_docs_text),
]}

DEFAULT_SIZE = {"hello": 5_000, "python": 1_000_000, "torch_docs": 500_000}


def load(key: str, max_chars: int | None = None, seed: int = 0) -> str:
    """Text of a built-in corpus; ValueError naming the choices for an unknown key."""
    if key not in CORPORA:
        raise ValueError(f"unknown corpus {key!r}; choose one of {', '.join(CORPORA)}")
    size = max_chars or DEFAULT_SIZE.get(key, DEFAULT_CHARS)
    return CORPORA[key].make(size, seed)


def decode_upload(data: bytes) -> str:
    """User text from an uploaded file: UTF-8 (with or without BOM), else UTF-16 with BOM.
    Raises ValueError with a clear message for binary or undecodable files."""
    if not data:
        raise ValueError("the file is empty")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return _not_blank(_utf16(data))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"the file is not UTF-8 text (byte {e.start} cannot be decoded); "
                         "save it as UTF-8 and upload again") from None
    if "\x00" in text:
        raise ValueError("the file looks binary (it contains NUL bytes); upload a plain .txt file")
    return _not_blank(text)


def _utf16(data: bytes) -> str:
    """UTF-16 text (it starts with a byte-order mark), or ValueError in a learner's terms."""
    if len(data) % 2:
        raise ValueError(f"the file starts like UTF-16 text but has an odd number of bytes ({len(data):,}): "
                         "it is cut short or not text; save it again as UTF-8 and upload it")
    try:
        return data.decode("utf-16")
    except UnicodeDecodeError as e:
        raise ValueError(f"the file starts like UTF-16 text but byte {e.start:,} cannot be decoded; "
                         "save it as UTF-8 and upload it again") from None


def _not_blank(text: str) -> str:
    if not text.replace("\ufeff", "").strip():
        raise ValueError("the file holds only whitespace (spaces, tabs, line breaks): there is nothing "
                         "to train on")
    return text
