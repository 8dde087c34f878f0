"""Every function the Spark engine hands to its executors (`mapInArrow`, `applyInArrow`)
starts by calling `executor_task_started()`, read from the engine's source: a new one
that forgot would make every task of its step pay PySpark's full garbage collection
again (about 70 ms of CPU per task)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINES = Path(__file__).resolve().parents[1] / "engines"
HANDED_OVER = {"mapInArrow", "applyInArrow"}


def _executor_functions(tree: ast.Module) -> list[str]:
    """The names of the functions passed first to a `mapInArrow`/`applyInArrow` call."""
    return sorted(
        node.args[0].id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in HANDED_OVER
        and node.args
        and isinstance(node.args[0], ast.Name)
    )


def _calls_first(function: ast.FunctionDef, name: str) -> bool:
    """Whether `function` calls `name` before anything but imports and its docstring."""
    for statement in function.body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            continue
        call = statement.value if isinstance(statement, ast.Expr) else None
        if isinstance(call, ast.Constant):  # the docstring
            continue
        return (
            isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name
        )
    return False


def test_every_function_run_on_an_executor_first_says_its_task_started() -> None:
    checked = []
    for path in sorted(ENGINES.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = {
            node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
        }
        for name in _executor_functions(tree):
            assert _calls_first(functions[name], "executor_task_started"), f"{path.name}: {name}"
            checked.append(f"{path.stem}.{name}")
    # the steps there are today: a rename or a new step shows here
    assert checked == [
        "spark_files.each",
        "spark_groups.chunks",
        "spark_groups.each",
        "spark_groups.written",
        "spark_lines.batches",
        "spark_lines.bucket",
    ]
