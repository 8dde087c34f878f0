"""Progress and log lines of a run on a terminal: the running stage, the time spent (Rich).

Produces `terminal_progress(console)`, a context manager the CLI wraps a run in,
`show_stage(name)`, which the stages call as they start (`pipeline.stages.timed`
does), and `log_to_console()`, the handler that prints the `personas` log lines
(stage timings, warnings) on stderr when no Prefect API prints them. On a
terminal a spinner line shows the current stage and the elapsed time; log lines,
ours and Prefect's, are printed above it through the same console, so they never
draw into the spinner. When the output is not a terminal (a pipe, a log file,
cron) nothing is drawn, so logs stay clean.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

_current: tuple[Progress, TaskID] | None = None
LOG_FORMAT = "%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s"


class _LiveConsole:
    """Stands in for a log handler's console while the spinner is drawn: prints above it."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def print(self, message: Any, **_: Any) -> None:
        self._progress.console.print(message, markup=False, highlight=False, soft_wrap=True)


def _prefect_console_handlers() -> list[logging.Handler]:
    """Prefect's console handlers, if Prefect is loaded (they hold a Rich console)."""
    names = ["", "prefect", "prefect.flow_runs", "prefect.task_runs"]
    handlers = [h for name in names for h in logging.getLogger(name).handlers]
    return [h for h in handlers if type(h).__name__ == "PrefectConsoleHandler"]


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
        # Prefect's handlers write to the stream they were given, under the spinner's
        # redraws; through the live console their lines land above it instead.
        swapped = [(h, h.console) for h in _prefect_console_handlers()]  # type: ignore[attr-defined]
        for handler, _ in swapped:
            handler.console = _LiveConsole(progress)  # type: ignore[attr-defined]
        try:
            yield
        finally:
            for handler, original in swapped:
                handler.console = original  # type: ignore[attr-defined]
            _current = None


def show_stage(name: str) -> None:
    """Name the stage now running (no-op without a terminal progress display)."""
    if _current is not None:
        progress, task_id = _current
        progress.update(task_id, description=name)


class _ConsoleLogHandler(logging.Handler):
    """Log lines on stderr, or above the spinner while one is drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if _current is not None:
                _current[0].console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                Console(stderr=True).print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


def log_to_console(level: int = logging.INFO) -> None:
    """Print the `personas` loggers' lines (once, however often it is called)."""
    logger = logging.getLogger("personas")
    if not any(isinstance(h, _ConsoleLogHandler) for h in logger.handlers):
        logger.addHandler(_ConsoleLogHandler())
    logger.setLevel(level)
    logger.propagate = False  # Prefect's root handlers would print them a second time
