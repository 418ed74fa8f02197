"""The layout rules of docs/design.md, checked on the source: arrows point down, no package
cycles, small modules, short functions."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("aws", "config", "sources", "transforms", "sinks", "runtime", "jobs")
TOOLS = ("deploy", "simulators", "local", "bench")
# What each layer may import of the project (besides itself).
ALLOWED = {
    "aws": set(),
    "config": {"aws"},
    "transforms": {"config"},
    "sources": {"aws", "config", "transforms"},
    "sinks": {"aws", "config", "transforms"},
    "runtime": {"aws", "config", "sources", "transforms", "sinks"},
    "jobs": {"aws", "config", "runtime", "simulators"},
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_REASON = "# long:"  # a comment right above a longer function says why


def modules(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((REPO / package).rglob("*.py"))


def imported(path: Path) -> set[str]:
    """Top-level names of every import in the module, function-level ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def package_graph() -> dict[str, set[str]]:
    ours = set(PACKAGES) | set(TOOLS)
    graph: dict[str, set[str]] = {p: set() for p in ours}
    for package in ours:
        for path in modules(package):
            graph[package] |= (imported(path) & ours) - {package}
    return graph


@pytest.mark.parametrize("package", PACKAGES)
def test_each_layer_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        str(path.relative_to(REPO)): sorted(
            (imported(path) & set(PACKAGES + TOOLS)) - ALLOWED[package] - {package}
        )
        for path in modules(package)
    }
    assert {m: names for m, names in wrong.items() if names} == {}


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph()
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append([*trail[trail.index(nxt) :], nxt])
            elif len(trail) < len(graph):
                visit(nxt, [*trail, nxt])

    for start in sorted(graph):
        visit(start, [start])
    assert cycles == []


@pytest.mark.parametrize("package", ["aws", "config", "sources", "transforms", "sinks"])
def test_importing_a_lower_layer_loads_neither_runtime_nor_jobs(package: str) -> None:
    probe = (
        f"import sys, pkgutil, importlib, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted({n.split('.')[0] for n in sys.modules} & {'runtime', 'jobs'}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_no_module_is_longer_than_the_limit() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for path in modules(*PACKAGES, *TOOLS)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_a_long_function_says_why_right_above_it() -> None:
    unexplained = []
    for path in modules(*PACKAGES, *TOOLS):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and not _explained(lines, first):
                unexplained.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length})")
    assert unexplained == []


def _explained(lines: list[str], first: int) -> bool:
    """The comment block right above line `first` (1-based) starts with `# long:`."""
    above = first - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        if lines[above].strip().startswith(LONG_REASON):
            return True
        above -= 1
    return False
