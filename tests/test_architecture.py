"""The engine's shape, read statically from playground/'s source (nothing is imported):

- no import cycle between playground's modules, counting imports inside functions and
  relative imports (`if TYPE_CHECKING:` imports too: they are the same dependency);
- sizes: a module ≤ 450 lines, a class ≤ 200, a function ≤ 50;
- no reach into another class's private fields across modules (`run._lock` from ray_backend):
  an attribute `_x` is read only on `self`/`cls`, or on an object of a class of the same module.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "playground"
MAX_MODULE, MAX_CLASS, MAX_FUNCTION = 450, 200, 50


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The playground modules `name` imports anywhere in its source (module or function level)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:       # `import playground.ui.share` depends on playground.ui.share
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imported(name, path, known) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}              # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_scan_sees_function_level_and_relative_imports(tmp_path):
    """The scanner itself: a cycle made only of a function-level relative import is found."""
    graph = {"playground.a": {"playground.b"}, "playground.b": set()}
    assert find_cycle(graph) is None
    src = PACKAGE / "runner.py"
    found = imported("playground.runner", src, set(modules()))
    assert "playground.ray_backend" in found          # imported inside backend_from_env
    assert "playground.registry" in found             # `from .registry import ...`
    graph["playground.b"] = {"playground.a"}
    assert find_cycle(graph) == ["playground.a", "playground.b", "playground.a"]


def test_no_import_cycle_in_playground():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_engine_does_not_import_the_ui():
    graph = import_graph()
    upward = {(m, d) for m, deps in graph.items() if not m.startswith("playground.ui")
              for d in deps if d.startswith("playground.ui")}
    assert not upward


def sizes() -> list[tuple[str, str, int, int]]:
    """(file, what, lines, limit) for every module, class and function over its limit."""
    over = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        text = path.read_text()
        if (n := len(text.splitlines())) > MAX_MODULE:
            over.append((rel, "module", n, MAX_MODULE))
        for node in ast.walk(ast.parse(text)):
            limit = (MAX_CLASS if isinstance(node, ast.ClassDef) else
                     MAX_FUNCTION if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) else None)
            if limit is not None and (n := node.end_lineno - node.lineno + 1) > limit:
                over.append((rel, f"{type(node).__name__[:-3].lower()} {node.name}", n, limit))
    return over


def test_modules_classes_and_functions_are_short():
    over = sizes()
    assert not over, "\n".join(f"{f}: {what} has {n} lines (limit {limit})" for f, what, n, limit in over)


def private_reaches(path: Path) -> list[str]:
    """`obj._field` where obj is not self/cls and `_field` is not defined by a class of this module."""
    tree = ast.parse(path.read_text())
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id in ("self", "cls"):
                    own.add(sub.attr)
                elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("_"):
                    own.add(sub.name)
                elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                    own.add(sub.id)
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
                and node.attr not in own):
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
    return found


RUN_LAYER = ["front.py", "run.py", "registry.py", "runner.py", "ray_actor.py", "ray_backend.py", "ray_pool.py",
             "scheduler.py", "train.py", "compare.py"]


@pytest.mark.parametrize("name", RUN_LAYER)
def test_the_run_layer_reads_no_private_field_of_another_modules_class(name):
    assert private_reaches(PACKAGE / name) == []


def test_the_private_field_scan_finds_a_reach(tmp_path):
    probe = tmp_path / "m.py"
    probe.write_text("class A:\n    def f(self, run):\n        return self._mine, run._lock, run._mine\n")
    assert [f.split(": ")[-1] for f in private_reaches(probe)] == ["._lock"]
