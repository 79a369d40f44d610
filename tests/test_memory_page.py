"""Compare page: the memory-horizon experiment section, run through the scheduler."""
from __future__ import annotations

import time

from conftest import open_page
from playground.ui.memory import JOB_KEY


def wait_for(job, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while job.running and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not job.running, f"the experiment did not finish in {timeout:.0f} s: {job.status_text}"


def test_one_click_runs_the_experiment_and_plots_what_it_measured():
    at = open_page("pages/6_Compare.py")
    assert not at.exception
    assert any("memory task, not a language model" in m.value for m in at.markdown)
    at.multiselect(key="mh_gaps").set_value([4])  # one short gap keeps the test fast
    at.number_input(key="mh_max_steps").set_value(200)
    at.button(key="mh_start").click().run()
    assert not at.exception
    job = at.session_state[JOB_KEY]
    assert job.plan == [("RNN_TANH", 4, 0), ("GRU", 4, 0), ("LSTM", 4, 0)]
    assert job.recipe.max_steps == 200 and at.button(key="mh_start").disabled  # no second start
    wait_for(job)
    at.run()
    assert not at.exception
    table = at.dataframe[0].value  # no runs yet: the page stops below the experiment
    assert list(table["cell"]) == ["RNN_TANH", "GRU", "LSTM"] and table["recall"].between(0, 1).all()
    assert (table["steps"] <= 200).all()
    assert len([c for c in at.get("plotly_chart")]) == 2
    finding = next(m.value for m in at.markdown if m.value.startswith("**What this run shows"))
    lstm = table.set_index("cell").loc["LSTM", "recall"]
    assert f"LSTM **{lstm:.2f}**" in finding      # the page states the measured number
    assert at.progress[0].value == 100 and "Finished" in at.progress[0].proto.text
    assert not at.button(key="mh_start").disabled


def test_stop_cancels_the_experiment():
    at = open_page("pages/6_Compare.py")
    at.number_input(key="mh_seeds").set_value(3)
    at.button(key="mh_start").click().run()
    job = at.session_state[JOB_KEY]
    at.button(key="mh_stop").click().run()
    assert job.cancelled and not job.running
    assert not at.exception and not at.button(key="mh_start").disabled


def test_the_end_of_the_session_cancels_its_experiment():
    from playground.ui import memory

    slot = memory._JobSlot()
    slot.job = job = memory.mh.MemoryHorizonJob(gaps=[4])
    memory._cancel(slot)            # what Streamlit calls when the browser session closes
    assert job.cancelled and not job.running
