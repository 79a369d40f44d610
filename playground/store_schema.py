"""The run store's tables, its schema version, and the steps that upgrade an older database.

    meta         key -> value; "schema_version" is the version the tables were written in
    workspaces   one per link: sha256 of its token (never the token), display name, times
    corpora      uploaded or pasted text, stored once by its sha256
    runs         one per run: workspace, label, configs (JSON), corpus, status, step, placement
    history      one row per optimisation step (the columns of front.HistoryRow)
    samples      text a run generated while training
    checkpoints  the latest checkpoint of each run (bytes: everything an exact resume needs)
    broadcasts   the instructor's messages to the room

Times are unix seconds (float). `ensure_schema` creates the tables in an empty database,
upgrades an older one step by step (MIGRATIONS[v] takes version v to v + 1, in one
transaction), and refuses a newer or unrecognised one with a StoreError that says what to do.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Connection, Engine, Float, ForeignKey, Index,
                        Integer, LargeBinary, MetaData, String, Table, Text, inspect, select, text)

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False))

workspaces = Table(
    "workspaces", metadata,
    Column("token_hash", String(64), primary_key=True),      # sha256 hex of the link's token
    Column("display_name", String(100), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False, index=True))

corpora = Table(
    "corpora", metadata,
    Column("hash", String(64), primary_key=True),            # sha256 hex of the UTF-8 text
    Column("text", Text, nullable=False),
    Column("chars", Integer, nullable=False),
    Column("created_at", Float, nullable=False))

runs = Table(
    "runs", metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workspace", String(64), ForeignKey("workspaces.token_hash", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("label", String(200), nullable=False, default=""),
    Column("model_config", JSON, nullable=False),
    Column("train_config", JSON, nullable=False),
    Column("settings", JSON, nullable=True),                 # front.RunSettings, as a dict
    Column("corpus_key", String(100), nullable=False, default=""),   # a built-in corpus
    Column("corpus_hash", String(64), ForeignKey("corpora.hash"), nullable=True),  # or stored text
    Column("status", String(20), nullable=False, index=True),
    Column("message", Text, nullable=False, default=""),
    Column("step", Integer, nullable=False, default=0),
    Column("target_step", Integer, nullable=False, default=0),
    Column("running_seconds", Float, nullable=False, default=0.0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("node", String(200), nullable=True),              # where it trains (a Ray pool), if known
    Column("placement", String(200), nullable=True))

history = Table(
    "history", metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, primary_key=True, autoincrement=False),
    Column("loss", Float, nullable=False),
    Column("perplexity", Float, nullable=False),
    Column("grad_norm", Float, nullable=False),
    Column("clipped", Boolean, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("lr", Float, nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("val_loss", Float, nullable=True),                # NULL: not measured after this step
    Column("val_bits_per_char", Float, nullable=True),
    Column("annealed", Boolean, nullable=False),
    # the validation curves of a whole room in one index scan (about one row in eval_every)
    Index("ix_history_val", "run_id", "step", "val_loss", "val_bits_per_char",
          sqlite_where=text("val_loss IS NOT NULL"), postgresql_where=text("val_loss IS NOT NULL")))
HISTORY_COLUMNS = tuple(c.name for c in history.columns if c.name != "run_id")

samples = Table(
    "samples", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("prefix", Text, nullable=False),
    Column("greedy", Text, nullable=False),
    Column("sampled", Text, nullable=False),
    Column("temperature", Float, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_samples_run_step", "run_id", "step"))

checkpoints = Table(
    "checkpoints", metadata,
    Column("run_id", String(64), ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True),
    Column("step", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False))

broadcasts = Table(
    "broadcasts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False))


class StoreError(RuntimeError):
    """The store cannot be used; the message says why and what to do."""


# MIGRATIONS[v](connection) upgrades a database from schema version v to v + 1. Add one per
# schema change (ALTER TABLE ... ADD COLUMN with a default, or a new table via table.create).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {}


def ensure_schema(engine: Engine, where: str) -> int:
    """Create, upgrade or refuse the schema (see the module docstring); the version found."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":    # several fronts may start at once
            conn.execute(text("SELECT pg_advisory_xact_lock(7460311)"))
        found = _found_version(conn, where)
        if found is None:
            metadata.create_all(conn)
            conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return SCHEMA_VERSION
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"the database at {where} was written by a newer RNN Playground (schema version "
                f"{found}; this version reads up to {SCHEMA_VERSION}). Upgrade the app, or set "
                "PLAYGROUND_DATABASE_URL / PLAYGROUND_DATA_DIR to another database.")
        for version in range(found, SCHEMA_VERSION):
            _migrate(conn, version, where)
        return found


def _found_version(conn: Connection, where: str) -> int | None:
    """The stored schema version; None for a database without our tables."""
    tables = set(inspect(conn).get_table_names())
    if "meta" not in tables:
        if tables & {t.name for t in metadata.sorted_tables}:
            raise StoreError(f"the database at {where} has RNN Playground tables but no schema "
                             "version, so it cannot be read safely. Move it away or use another database.")
        return None
    value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
    if value is None or not str(value).isdigit():
        raise StoreError(f"the database at {where} has no readable schema version ({value!r}), "
                         "so it cannot be read safely. Move it away or use another database.")
    return int(value)


def _migrate(conn: Connection, version: int, where: str) -> None:
    step = MIGRATIONS.get(version)
    if step is None:
        raise StoreError(f"the database at {where} has schema version {version}, which this version "
                         f"of RNN Playground cannot upgrade to {SCHEMA_VERSION}.")
    step(conn)
    conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(version + 1)))
