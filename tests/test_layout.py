"""The layout: two products (the function, the grader), no import circles, no private calls."""

from __future__ import annotations

import ast
from pathlib import Path

LAMBDA = Path(__file__).resolve().parent.parent / "lambda"


def modules() -> dict:
    """{module name: its AST} of every project module (grader.x for the grader's)."""
    found = {p.stem: p for p in LAMBDA.glob("*.py")}
    found |= {f"grader.{p.stem}": p for p in (LAMBDA / "grader").glob("*.py") if p.stem != "__init__"}
    return {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in found.items()}


def imports(tree, names) -> set:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
    return out & set(names)


def test_no_import_circles():
    trees = modules()
    graph = {name: imports(tree, trees) - {name} for name, tree in trees.items()}
    done, path = set(), []

    def visit(name):
        assert name not in path, f"import circle: {' -> '.join(path[path.index(name):] + [name])}"
        if name in done:
            return
        path.append(name)
        for other in sorted(graph[name]):
            visit(other)
        path.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_the_function_never_imports_the_grader():
    trees = modules()
    for name, tree in trees.items():
        if not name.startswith("grader.") and name != "evaluate":
            assert not [m for m in imports(tree, trees) if m.startswith("grader")], name


def test_no_module_calls_another_modules_private_names():
    trees = modules()
    short = {name.split(".")[-1] for name in trees}
    for name, tree in trees.items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in short and node.value.id != name.split(".")[-1]):
                assert not node.attr.startswith("_"), f"{name} uses {node.value.id}.{node.attr}"
            if isinstance(node, ast.ImportFrom) and node.module in short | set(trees):
                assert not [a.name for a in node.names if a.name.startswith("_")], f"{name}: from {node.module}"
