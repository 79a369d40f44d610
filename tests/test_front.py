"""The run front (playground/front.py): both backends' run classes implement every member of
the RunFront Protocol with a compatible signature; Status keeps string comparisons working;
history rows round-trip through checkpoints' plain dicts. (The behaviour both backends share
is tested in tests/test_runner.py, once per backend.)"""
import inspect
import math

import pytest

from playground.front import (ACTIVE, ENDED, HistoryCache, HistoryRow, RunFront, RunObserver, Status,
                              history_frame)
from playground.ray_run import RayRun
from playground.run import Run

BACKENDS = [Run, RayRun]


def protocol_members(proto) -> tuple[set[str], dict[str, object]]:
    """(data attributes, {method or property name: its definition}) declared by a Protocol."""
    data = set(proto.__annotations__)
    members = {name: value for name, value in vars(proto).items()
               if not name.startswith("_") and (callable(value) or isinstance(value, property))}
    return data, members


def class_attributes(cls) -> set[str]:
    names = set()
    for klass in cls.__mro__:
        names |= set(getattr(klass, "__annotations__", {})) | set(vars(klass))
    return names


def test_the_protocol_declares_what_pages_use():
    data, members = protocol_members(RunFront)
    assert {"run_id", "owner", "label", "corpus_key", "model_config", "train_config", "settings",
            "can_restart"} <= data
    assert {"status", "is_active", "steps_done", "base_lr", "start", "pause", "resume", "step", "stop",
            "set_lr", "update_settings", "restart", "snapshot", "copy_model", "checkpoint_bytes",
            "val_text", "join", "free"} <= set(members)


@pytest.mark.parametrize("cls", BACKENDS, ids=lambda c: c.__name__)
def test_each_backend_implements_every_member_of_the_front(cls):
    data, members = protocol_members(RunFront)
    missing = (data | set(members)) - class_attributes(cls)
    assert not missing, f"{cls.__name__} lacks {sorted(missing)}"
    for name, declared in members.items():
        mine = inspect.getattr_static(cls, name)
        if isinstance(declared, property):
            assert isinstance(mine, property), f"{cls.__name__}.{name} must be a property"
            continue
        want, got = inspect.signature(declared), inspect.signature(mine)
        assert list(got.parameters) == list(want.parameters), f"{cls.__name__}.{name}{got} vs {want}"
        for p, q in zip(want.parameters.values(), got.parameters.values()):
            assert (p.kind, p.default) == (q.kind, q.default), f"{cls.__name__}.{name}: {q} vs {p}"


def test_restart_is_declared_not_sniffed():
    assert RayRun.can_restart is True and Run.can_restart is False


def test_status_is_a_string_for_comparisons_urls_and_tables():
    assert Status.RUNNING == "running" and f"{Status.PAUSED}" == "paused" and str(Status.LOST) == "lost"
    assert "queued" in ACTIVE and Status.READY not in ACTIVE and Status.READY not in ENDED
    assert ACTIVE | ENDED | {Status.READY} == set(Status) and not ACTIVE & ENDED
    assert {"running": 1}[Status.RUNNING] == 1


def test_an_observer_is_a_protocol_a_plain_class_satisfies():
    class Quiet:
        def on_history(self, run_id, rows): ...
        def on_sample(self, run_id, sample): ...
        def on_status(self, run_id, status, step): ...
    assert isinstance(Quiet(), RunObserver) and not isinstance(object(), RunObserver)


def row(step: int, **more) -> HistoryRow:
    return HistoryRow(step=step, loss=1.0, perplexity=math.e, grad_norm=0.5, clipped=False, tokens=32,
                      seconds=0.01, **more)


def test_history_rows_round_trip_through_a_checkpoints_plain_dicts():
    measured = row(2, val_loss=0.9, val_bits_per_char=1.3, annealed=True)
    assert HistoryRow.from_dict(measured.to_dict()) == measured
    assert "val_loss" not in row(1).to_dict()                       # not measured: left out
    older = {"step": 1, "loss": 1.0, "perplexity": 2.7, "grad_norm": 0.5, "clipped": False, "tokens": 32,
             "seconds": 0.01, "unknown": 3}                         # a checkpoint before lr/epoch existed
    assert HistoryRow.from_dict(older).lr == 0.0
    df = history_frame([row(1), measured])
    assert math.isnan(df["val_loss"][0]) and df["val_perplexity"][1] == pytest.approx(math.exp(0.9))
    assert list(df["annealed"]) == [False, True] and df["tokens_per_s"][0] == pytest.approx(3200)


def test_the_history_cache_re_reads_the_last_row_and_follows_a_rollback():
    cache, source = HistoryCache(), [row(i) for i in range(1, 6)]
    cache.merge(cache.read_from(len(source)), source[cache.read_from(len(source)):])
    assert [r.step for r in cache.rows] == [1, 2, 3, 4, 5] and cache.read_from(5) == 4
    source[-1] = row(5, val_loss=0.5)                                 # validation landed after the step
    cache.merge(4, source[4:])
    assert cache.frame()["val_loss"].iloc[-1] == 0.5
    del source[2:]                                                    # a divergence rolled back to step 2
    assert cache.read_from(len(source)) == 0
    cache.merge(0, source)
    assert len(cache.frame()) == 2
