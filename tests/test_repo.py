"""Repository contracts: README commands, CI, pins, and the engine free of streamlit."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_command(tag: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {tag} -->\s*```(?:bash|sh)?\n(.+?)\n```", text, re.S)
    assert match, f"README lacks the {tag} command block"
    return match.group(1).strip()


def test_ci_runs_the_readme_test_command_verbatim():
    command = readme_command("test-command")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in ci, "the last command of .ci/run must be the README's test command"
    assert any("apt-get install -y" in line and "chromium" in line for line in ci)


def test_readme_app_command_installs_then_runs():
    command = readme_command("app-command")
    assert "pip install -r requirements.txt" in command and command.endswith("streamlit run app.py")


def test_torch_is_pinned():
    reqs = (ROOT / "requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", reqs, re.M)
    for name in ("streamlit", "plotly", "pandas"):
        assert re.search(rf"^{name}[=<>]", reqs, re.M), name


def test_engine_is_free_of_streamlit():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "playground").rglob("*.py")
                 if "ui" not in p.relative_to(ROOT / "playground").parts[:1] and p.stem != "ui"
                 and re.search(r"^\s*(import streamlit|from streamlit)", p.read_text(), re.M)]
    assert offenders == []


def test_streamlit_config_keeps_live_training_fast():
    import tomllib
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert cfg["runner"]["postScriptGC"] is False      # a full GC per refresh stalled training ~30%
    assert cfg["server"]["fileWatcherType"] == "none"
