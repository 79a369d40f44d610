"""What the run store reads and writes (plain dataclasses), where it lives, and what its
errors mean in a user's words. No database access here; see store.py.

Where (RunStore.open): PLAYGROUND_DATABASE_URL (any SQLAlchemy URL, e.g.
postgresql+psycopg2://user:pw@host/db) if set; otherwise a SQLite file playground.sqlite in
PLAYGROUND_DATA_DIR (default: .playground-data next to app.py, created on first use).
"""
from __future__ import annotations

import errno
import hashlib
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .store_schema import StoreError

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1] / ".playground-data"
SQLITE_NAME = "playground.sqlite"
ACTIVE_STATUSES = ("queued", "running", "paused")   # front.ACTIVE: runs that were training
HASH = re.compile(r"[0-9a-f]{64}")


def hash_token(token: str) -> str:
    """sha256 hex of a workspace token: what the store keeps instead of the token. Tokens are
    random (secrets.token_urlsafe(16), 128 bits), so an unsalted hash cannot be reversed."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class WorkspaceRecord:
    token_hash: str
    display_name: str | None
    created_at: float
    last_seen: float


@dataclass
class RunRecord:
    """One run as the store keeps it. `workspace` is hash_token(the link's token), never the token."""
    run_id: str
    workspace: str
    model_config: dict
    train_config: dict
    label: str = ""
    status: str = "ready"           # front.Status values
    message: str = ""
    step: int = 0
    target_step: int = 0
    corpus_key: str = ""            # a built-in corpus, by key
    corpus_hash: str | None = None  # or uploaded/pasted text, stored once (RunStore.put_corpus)
    settings: dict | None = None    # front.RunSettings as a dict
    running_seconds: float = 0.0
    node: str | None = None         # where it trains (a Ray pool), if known
    placement: str | None = None
    created_at: float = 0.0         # 0: now, when first saved
    updated_at: float = 0.0

    @classmethod
    def for_token(cls, token: str, **fields) -> "RunRecord":
        return cls(workspace=hash_token(token), **fields)


@dataclass
class CheckpointRecord:
    run_id: str
    step: int
    data: bytes
    created_at: float


@dataclass
class Broadcast:
    id: int
    text: str
    created_at: float


@dataclass
class SizeReport:
    """How big the store is. database_bytes: the SQLite file (+ its WAL) or PostgreSQL's
    pg_database_size; None where the database cannot tell."""
    workspaces: int
    runs: int
    history_rows: int
    samples: int
    checkpoints: int
    checkpoint_bytes: int
    corpus_chars: int
    database_bytes: int | None
    per_table: dict = field(default_factory=dict)

    @property
    def bytes_per_run(self) -> float | None:
        """Database size per run (history, samples, checkpoints and all), None if unknown."""
        if self.database_bytes is None or not self.runs:
            return None
        return self.database_bytes / self.runs


def data_dir_from_env(env: dict | None = None) -> Path:
    env = os.environ if env is None else env
    raw = env.get("PLAYGROUND_DATA_DIR", "").strip()
    return Path(raw).expanduser() if raw else DEFAULT_DATA_DIR


def prepare_data_dir(path: Path) -> Path:
    """Create the folder if needed and check that files can be written in it; StoreError with
    one clear message otherwise."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:
        raise StoreError(
            f"PLAYGROUND_DATA_DIR={path} cannot be used: {describe_error(e)}. Runs train but are "
            "NOT saved; set PLAYGROUND_DATA_DIR to a writable folder (or PLAYGROUND_DATABASE_URL "
            "to a database) and restart.") from None
    return path


def describe_error(exc: BaseException) -> str:
    """Why a database operation failed, in a user's words (the log keeps the detail)."""
    if isinstance(exc, StoreError):
        return str(exc)
    orig = getattr(exc, "orig", None) or exc
    text, code = str(orig).lower(), getattr(orig, "errno", None)
    if code == errno.ENOSPC or "disk is full" in text or "no space left" in text:
        return "the disk is full"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
            s in text for s in ("readonly", "read-only", "permission denied")):
        return "the folder or database is read-only"
    if code in (errno.ENOTDIR, errno.EEXIST) or "not a directory" in text:
        return "it is a file, not a folder"
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return "the database file is damaged (not a database, or corrupt)"
    if any(s in text for s in ("could not connect", "connection refused", "server closed", "timeout expired",
                               "could not translate host", "connection to server", "unable to open database")):
        return "the database cannot be reached"
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return f"{type(orig).__name__}: {first[:200]}"
