"""The live-chart refresh interval keeps all viewers' redraws within a CPU budget."""
import dataclasses

import pytest

from playground.refresh import RefreshBudget


def test_one_viewer_redraws_every_second():
    b = RefreshBudget(budget_cores=0.2)
    b.record("a", 0.05, now=0.0)
    assert b.interval(now=1.0) == 1.0


def test_thirty_viewers_slow_down_to_stay_within_the_budget():
    b = RefreshBudget(budget_cores=0.2, max_interval=60)
    for i in range(30):
        b.record(f"viewer{i}", 0.05, now=float(i) / 10)
    assert b.interval(now=5.0) == pytest.approx(30 * 0.05 / 0.2)      # 7.5 s: 30 redraws of 50 ms per 7.5 s
    assert 30 * 0.05 / b.interval(now=5.0) <= 0.2 + 1e-9


def test_viewers_that_left_are_forgotten_and_the_interval_is_capped():
    b = RefreshBudget(budget_cores=0.2, max_interval=15, window=30)
    for i in range(100):
        b.record(f"v{i}", 0.1, now=0.0)
    assert b.interval(now=1.0) == 15                                   # capped
    assert b.interval(now=31.0) == 1.0                                 # all gone after the window


def test_streamlits_own_rerun_cost_counts_against_the_budget():
    b = RefreshBudget(budget_cores=0.1, max_interval=60, overhead_seconds=0.02)
    for i in range(30):
        b.record(f"viewer{i}", 0.002, now=0.0)
    assert b.interval(now=1.0) == pytest.approx(30 * (0.002 + 0.02) / 0.1)   # 6.6 s, not 0.6 s


def test_while_the_trainers_fill_every_core_the_pages_get_the_smaller_budget():
    """A room (more runs than trainer workers): every redraw takes CPU from training. With a
    trainer core spare (one learner on Ray, slow polls) the larger budget keeps polls ~1 s apart."""
    b = RefreshBudget(budget_cores=0.1, full_budget_cores=0.04, max_interval=60)
    for i in range(10):
        b.record(f"v{i}", 0.03, now=0.0)
    assert b.interval(now=1.0) == pytest.approx(10 * 0.03 / 0.1)       # 3 s
    for i in range(10):
        b.record(f"v{i}", 0.03, now=1.0, full=True)
    assert b.interval(now=2.0) == pytest.approx(10 * 0.03 / 0.04)      # 7.5 s while the cores are full
    b.record("v0", 0.03, now=2.0, full=False)                          # a run ended: a core is spare again
    assert b.interval(now=3.0) == pytest.approx(10 * 0.03 / 0.1)


def test_the_cores_are_full_when_more_runs_train_than_there_are_trainer_workers():
    import pandas as pd

    from playground.front import Snapshot, Status
    from playground.ui.live import cores_full
    snap = Snapshot("r", "run", Status.RUNNING, "", 1, 10, 0.01, pd.DataFrame(), [], 1, 4, 4.0, 3.0, 1.0)
    assert [cores_full(dataclasses.replace(snap, active_runs=n, workers=2)) for n in (1, 2, 3, 30)] == \
        [False, False, True, True]
