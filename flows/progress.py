"""Progress of a refresh on a terminal: the running stage and the time spent (Rich).

Produces `terminal_progress(console)`, a context manager the CLI wraps a run in,
and `show_stage(name)`, which the stages call as they start (`flows.tasks.timed`
does). On a terminal a spinner line shows the current stage and the elapsed
time above nothing else; when the output is not a terminal (a pipe, a log file,
cron) nothing is drawn, so logs stay clean.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

_current: tuple[Progress, TaskID] | None = None


@contextmanager
def terminal_progress(console: Console, first: str = "starting") -> Iterator[None]:
    """Show the running stage while the block runs, if `console` is a terminal."""
    global _current
    if not console.is_terminal:
        yield
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        _current = (progress, progress.add_task(first, total=None))
        try:
            yield
        finally:
            _current = None


def show_stage(name: str) -> None:
    """Name the stage now running (no-op without a terminal progress display)."""
    if _current is not None:
        progress, task_id = _current
        progress.update(task_id, description=name)
