"""The layout of the views, reports and sweep directories: the protocol imports no view, and the
modules that show runs import one another without a cycle (lazy imports included)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sandbox

ROOT = Path(sandbox.__file__).resolve().parent.parent

#: The modules this layout covers: views, reports, sweep directories, watch and replay.
COVERED = (
    "sandbox.display",
    "sandbox.report",
    "sandbox.sweep",
    "sandbox.sweepdir",
    "sandbox.watch",
    "sandbox.replay",
)


def project_modules() -> dict[str, Path]:
    mods = {}
    for package in ("sandbox", "environments"):
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Project modules that ``module`` imports anywhere (functions too), except in
    ``if TYPE_CHECKING:`` blocks, which never run."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                found.update(m for a in child.names if (m := known(a.name)))
            elif isinstance(child, ast.ImportFrom):
                source = child.module or ""
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    source = ".".join([*base, *([child.module] if child.module else [])])
                for alias in child.names:
                    full = f"{source}.{alias.name}"
                    target = full if full in mods else known(source)
                    if target:
                        found.add(target)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    found.discard(module)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            strong(v)
    return found


def covered(module: str) -> bool:
    return any(module == c or module.startswith(c + ".") for c in COVERED)


def test_no_import_cycle_through_views_reports_and_sweeps() -> None:
    mods = project_modules()
    graph = {m: imports_of(m, p, mods) for m, p in mods.items()}
    mine = [c for c in cycles(graph) if any(covered(m) for m in c)]
    assert mine == []


def test_the_cycle_check_sees_a_lazy_import(tmp_path: Path) -> None:
    # The check must see an import inside a function (the kind that used to close the
    # sweep -> sweep_view -> watch -> sweep cycle), and must skip TYPE_CHECKING blocks.
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sandbox.watch import JobRow\n"
        "def f():\n    from sandbox.sweep import job_row\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    mods = {"sandbox.sweep": path, "sandbox.watch": path, "probe": path}
    assert imports_of("probe", path, mods) == {"sandbox.sweep"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_protocol_and_the_chooser_import_no_view_and_no_rich() -> None:
    probe = (
        "import sys, sandbox.display, sandbox.display.base, sandbox.display.null; "
        "print(sorted(m for m in sys.modules if m == 'rich' or m.startswith('rich.') "
        "or m in ('sandbox.display.live', 'sandbox.display.plain')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
