"""The workshop load tool (benchmarks/workshop.py) and its protocol client (benchmarks/st_client.py).

The page model is checked on hand-built ForwardMsgs; the `load` test runs the tool for real:
3 learners for 8 s against a fresh server.
"""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from benchmarks import burst
from benchmarks.st_client import ForwardCache, Page
from benchmarks.workshop import percentile, steps_at, steps_per_second, thread_cpu_seconds, with_steps
from playground.scheduler import name_os_thread

ROOT = Path(__file__).resolve().parent.parent


def delta(path, fragment_id="", **element) -> ForwardMsg:
    """A ForwardMsg drawing one element, e.g. delta([0, 1], button={"label": "Start"})."""
    msg = ForwardMsg()
    msg.metadata.delta_path.extend(path)
    msg.delta.fragment_id = fragment_id
    (kind, fields), = element.items()
    for name, value in fields.items():
        setattr(getattr(msg.delta.new_element, kind), name, value)
    return msg


def drawn(page: Page, *messages: ForwardMsg, fragment_ids=()) -> Page:
    """One script run (a fragment run if fragment_ids) that draws `messages`."""
    page.start_run()
    for m in messages:
        page.apply(m)
    page.finish_run(list(fragment_ids))
    return page


def test_buttons_and_widgets_are_found_by_label_not_position():
    page = drawn(Page(), delta([0, 2, 1, 0], button={"label": "Pause", "id": "p", "disabled": True}),
                 delta([0, 2, 0, 0], button={"label": "Start", "id": "s"}),
                 delta([1, 26], number_input={"label": "batch_size", "default": 32}),
                 delta([1, 25], number_input={"label": "seq_len (time steps per window)", "default": 64}))
    assert page.find("button", "Start").button.id == "s"
    assert page.find("button", "Pause").button.disabled
    assert page.find("button", "Resume") is None
    assert page.number("seq_len") == 64 and page.number("batch_size") == 32


def test_the_step_comes_from_the_metric_or_the_progress_text():
    assert drawn(Page(), delta([0, 3, 0], progress={"text": "**Training** · step 1,234 of 5,000"})).step() == 1234
    assert drawn(Page(), delta([0, 3, 1], metric={"label": "step", "body": "77"})).step() == 77
    assert drawn(Page(), delta([0, 3], markdown={"body": "Press **Start** to train."})).step() is None


def test_a_fragment_run_replaces_only_its_own_elements():
    page = drawn(Page(), delta([0, 1], markdown={"body": "outside"}),
                 delta([0, 3, 0], "frag", progress={"text": "step 5 of 10"}),
                 delta([0, 3, 1], "frag", markdown={"body": "a sample"}))
    drawn(page, delta([0, 3, 0], "frag", progress={"text": "step 9 of 10"}), fragment_ids=["frag"])
    assert page.texts() == ["outside", "step 9 of 10"]  # the sample was not redrawn: gone
    drawn(page, delta([0, 1], markdown={"body": "outside"}))
    assert page.texts() == ["outside"]                  # a full run without the fragment


def test_a_step_is_read_as_fresh_only_from_the_run_that_drew_it():
    """A chart fragment's run leaves the progress fragment's step on the page as it was: the
    workshop's rates read only steps drawn by the run that just finished (they came out up to
    ~40 % low in a full room, where progress polls are seconds apart)."""
    page = drawn(Page(), delta([0, 3, 0], "progress", metric={"label": "step", "body": "620"}),
                 delta([0, 4, 0], "charts", markdown={"body": "curves"}))
    assert page.step(fresh=True) == 620
    drawn(page, delta([0, 4, 0], "charts", markdown={"body": "curves"}), fragment_ids=["charts"])
    assert page.step() == 620 and page.step(fresh=True) is None


def test_errors_are_exceptions_and_error_boxes_naming_an_error():
    page = drawn(Page(), delta([0, 1], exception={"type": "ValueError", "message": "bad"}),
                 delta([0, 2], alert={"body": "Training failed: RuntimeError: boom", "format": Alert.ERROR}),
                 delta([0, 3], alert={"body": "Diverged: try a lower lr", "format": Alert.ERROR}),
                 delta([0, 4], alert={"body": "Error is a word", "format": Alert.INFO}))
    assert page.errors == ["ValueError: bad", "Training failed: RuntimeError: boom"]


def test_the_forward_cache_resolves_references_and_forgets_unused_messages():
    cache = ForwardCache()
    full = delta([0, 5], plotly_chart={"spec": "{}"})
    full.hash, full.metadata.cacheable = "h1", True
    cache.add(full)
    assert cache.hashes() == ["h1"]
    ref = ForwardMsg(ref_hash="h1")
    ref.metadata.delta_path.extend([0, 7])
    resolved = cache.add(ref)
    assert resolved.delta.new_element.plotly_chart.spec == "{}"
    assert list(resolved.metadata.delta_path) == [0, 7]
    assert cache.add(ForwardMsg(ref_hash="unknown")) is None and cache.misses == 1
    for _ in range(6):
        cache.hashes()
    assert cache.hashes() == []


def test_steps_between_samples_are_interpolated():
    samples = [(10.0, 0), (12.0, 100), (14.0, 140)]
    assert steps_at(samples, 11.0) == 50
    assert steps_at(samples, 13.5) == 130
    assert steps_at(samples, 9.0) == 0 and steps_at(samples, 20.0) == 140
    # a rate up to the last poll, not held flat to the window's end (the page shows steps at its polls)
    assert steps_per_second(samples, 11.0, 20.0) == (140 - 50) / 3
    assert steps_per_second(samples, 5.0, 20.0) == 140 / 4          # from the first sample on
    assert steps_per_second(samples, 13.5, 14.5) is None            # under a second of samples
    assert percentile([3.0, 1.0, 2.0, 4.0, 5.0], 50) == 3.0
    assert with_steps("", 50) == "steps=50" and with_steps("cell=GRU&steps=9", 50) == "cell=GRU&steps=9"


@pytest.mark.load
def test_three_learners_all_train_with_no_exception():
    cmd = [sys.executable, "-m", "benchmarks.workshop", "--sessions", "3", "--seconds", "8", "--ramp-seconds", "1",
           "--baseline-seconds", "0", "--settle-seconds", "1", "--toggle-every", "4"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=150)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    first = result["rounds"][0]
    assert result["progressed"] == 3, done.stdout
    assert result["exceptions"] == 0 and result["dropped_websockets"] == 0, done.stdout
    assert first["steps_per_learner"]["min"] > 0 and first["rerun_s"]["n"] > 10, done.stdout
    # the trainer threads are found by their OS name, and are part of the server's CPU
    assert 0 < first["trainer_cpu_cores"] <= first["server_cpu_cores"] + 0.05, done.stdout


def test_the_burst_tool_compares_each_app_dir_with_the_first_burst_by_burst():
    a = [{m: 1.0 for m in burst.MEASURES}, {m: 2.0 for m in burst.MEASURES}]
    b = [{m: 0.9 for m in burst.MEASURES}, {m: 2.2 for m in burst.MEASURES}]
    out = burst.compare({"0:old": a, "1:new": b})
    assert list(out) == ["1:new"]
    assert out["1:new"]["start_mean_s"] == {"median_ratio": round((0.9 + 1.1) / 2, 3), "lower_in": "1/2"}
    assert burst.summary({"0:old": a})["0:old"]["load_mean_s"] == 1.5


@pytest.mark.load
def test_a_burst_of_two_learners_loads_and_starts():
    cmd = [sys.executable, "-m", "benchmarks.burst", "--learners", "2", "--bursts", "1", "--trainers", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (medians,) = result["median_s"].values()
    assert all(0 < medians[m] < 120 for m in burst.MEASURES), medians
    assert medians["load_makespan_s"] >= medians["load_mean_s"], medians     # the last page drawn ends it


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="Linux: threads are read from /proc")
def test_thread_cpu_counts_the_named_threads_only():
    """The tool splits the server's CPU into its trainer threads' and the rest by OS thread name."""
    started, stop = threading.Event(), threading.Event()

    def burn():
        name_os_thread("sched-test")
        started.set()
        t = time.thread_time()
        while time.thread_time() - t < 0.3:
            pass
        stop.wait(10)

    thread = threading.Thread(target=burn)
    thread.start()
    started.wait(10)
    try:
        deadline = time.monotonic() + 10
        while (found := thread_cpu_seconds(os.getpid(), "sched-")) and sum(found.values()) < 0.25 \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(found) == 1 and 0.25 <= sum(found.values()) < 5
        assert thread_cpu_seconds(os.getpid(), "no-such-") == {}
    finally:
        stop.set()
        thread.join()
