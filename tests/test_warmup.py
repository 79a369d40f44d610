"""playground.warmup: one background import per process; pages wait for it before importing
the engine; Home never does."""
from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from playground import warmup

ROOT = Path(__file__).resolve().parent.parent


def test_start_runs_one_thread_per_process_and_wait_imports():
    modules = ("colorsys",)  # a module nothing else here imports
    sys.modules.pop("colorsys", None)
    started = []
    callers = [threading.Thread(target=lambda: started.append(warmup.start(modules))) for _ in range(8)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert len({id(t) for t in started}) == 1 and started[0].name == "playground-warmup"
    warmup.wait(modules)
    assert "colorsys" in sys.modules and not started[0].is_alive()


def test_an_import_error_is_raised_in_the_waiting_page():
    with pytest.raises(ModuleNotFoundError, match="no_such_module_here"):
        warmup.wait(("no_such_module_here",))


def test_every_page_waits_for_the_warmup_before_any_import():
    for page in sorted((ROOT / "pages").glob("*.py")):
        body = ast.parse(page.read_text()).body
        first = [node for node in body if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        imports = [i for i, node in enumerate(first) if isinstance(node, (ast.Import, ast.ImportFrom))]
        wait = [i for i, node in enumerate(first) if "warmup.wait()" in ast.unparse(node)]
        assert wait and ast.unparse(first[0]) == "from playground import warmup", page.name
        assert wait[0] < imports[1], f"{page.name}: warmup.wait() must come before the other imports"


HOME_WITHOUT_WARMUP = """
import sys
from playground import warmup
warmup.start = lambda *a, **k: None  # Home alone: would it import torch by itself?
from streamlit.testing.v1 import AppTest
at = AppTest.from_file("app.py", default_timeout=30).run()
assert not at.exception, at.exception
print(at.title[0].value)
print(sorted(m for m in ("torch", "pandas") if m in sys.modules))
"""


def test_home_renders_without_importing_torch():
    """The home page's import chain (app.py -> playground.ui ...) stays free of torch and pandas;
    only the warm-up thread loads them. Fresh interpreter: nothing imported before."""
    result = subprocess.run([sys.executable, "-c", HOME_WITHOUT_WARMUP], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    title, loaded = result.stdout.strip().splitlines()[-2:]
    assert "RNN Playground" in title
    assert loaded == "[]", f"Home imported {loaded}"


def _fresh(code: str, tmp_path) -> str:
    env = {**__import__("os").environ, "PLAYGROUND_BACKEND": "local", "PLAYGROUND_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()[-2:]


def test_the_app_warms_torch_s_first_optimizer_in_the_background(tmp_path):
    """torch's first optimizer imports torch._dynamo (2-3 s holding the GIL, more under load):
    the app's registry pays it in a background thread as the server starts, not the first Start."""
    code = ("import sys, threading, playground.train\n"
            "before = 'torch._dynamo' in sys.modules\n"
            "import playground.runner\n"
            "[t] = [t for t in threading.enumerate() if t.name == 'torch-warm-up']\n"
            "t.join(240)\n"
            "print(before, 'torch._dynamo' in sys.modules)")
    assert _fresh(code, tmp_path) == ["False", "True"]


def test_a_trainer_pool_is_warm_before_it_answers(tmp_path):
    """A Ray trainer pool pays it in its constructor (a pool answers nothing before): its first
    add_run took 5-8 s in a 60-learner hall, and every call behind it waited."""
    code = ("import sys\n"
            "from playground.ray_pool import TrainerPool\n"
            "before = 'torch._dynamo' in sys.modules\n"
            "TrainerPool('pool', 1)\n"
            "print(before, 'torch._dynamo' in sys.modules)")
    assert _fresh(code, tmp_path) == ["False", "True"]
