"""The `personas` process around a command: usage errors, native stderr, a clean exit.

Produces `run_app` (a command's exit code; a usage error is one `error:` line),
`NativeStderr` (what native libraries write to fd 2 kept off the terminal
unless `--debug`) and `exit_without_finalizing`. `flows.cli.main` uses them.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import tempfile
from typing import IO, NoReturn

import typer
from typer.exceptions import TyperException

# Commands that keep running and start child processes of their own (Prefect's runner
# starts one per flow run): their children must write to the real stderr.
LONG_RUNNING = ("serve",)


def run_app(app: typer.Typer) -> int:
    """Run the command; a usage error (unknown option, bad value) is one `error:` line."""
    try:
        result = app(standalone_mode=False)
    except typer.Exit as exit_request:
        return exit_request.exit_code
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        return 1
    except TyperException as exc:  # the command line itself is wrong
        message = exc.format_message()  # type: ignore[attr-defined]
        if type(exc).__name__ == "NoArgsIsHelpError":  # `personas` alone: its help
            typer.echo(message)
            return 2
        hint = f" (see: {_command_of(getattr(exc, 'ctx', None))} --help)"
        typer.echo(f"error: {message}{hint}", err=True)
        return getattr(exc, "exit_code", 2)
    except SystemExit as exit_request:  # sys.exit inside a command
        code = exit_request.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return result if isinstance(result, int) else 0


def _command_of(context: typer.Context | None) -> str:
    """`personas <command>` however the program was started (`python -m flows.cli` too)."""
    names = []
    while context is not None and context.parent is not None:
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(["personas", *reversed(names)])


class NativeStderr:
    """Keeps what native libraries write straight to file descriptor 2 off the terminal.

    A Rust panic in polars prints its message and, with RUST_BACKTRACE set, a stack
    trace on fd 2 before Python sees the exception; C extensions print there too. The
    CLI says what failed in one `error:` line and records it, so that output is
    captured into a temporary file and shown only with `--debug`. Python's own
    `sys.stderr` keeps writing to the terminal through a duplicate of fd 2.
    """

    def __init__(self, saved_fd: int | None, capture: IO[bytes] | None) -> None:
        self._saved_fd = saved_fd
        self._capture = capture

    @classmethod
    def capture(cls) -> NativeStderr:
        """Start capturing fd 2 (a no-op where fd 2 cannot be duplicated)."""
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            capture = tempfile.TemporaryFile()  # noqa: SIM115 - lives until release()
            os.dup2(capture.fileno(), 2)
        except (OSError, ValueError, io.UnsupportedOperation):
            return cls(None, None)
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        sys.stderr = io.TextIOWrapper(
            io.FileIO(saved, "w", closefd=False),
            encoding=encoding,
            errors="backslashreplace",
            line_buffering=True,
        )
        return cls(saved, capture)

    def release(self, *, show: bool) -> None:
        """Stop capturing; with `show`, copy what was captured to the real stderr."""
        if self._saved_fd is None or self._capture is None:
            return
        sys.stderr.flush()
        os.dup2(self._saved_fd, 2)
        sys.stderr = sys.__stderr__
        if show:
            self._capture.seek(0)
            os.write(2, self._capture.read())
        self._capture.close()
        os.close(self._saved_fd)


def exit_without_finalizing(code: int) -> NoReturn:
    """Run the exit handlers (logging flushes, Prefect's clients close), then leave
    without interpreter finalization.

    DuckDB's nanobind bindings print dozens of "leaked instance" lines while the
    interpreter finalizes, after our last line, whenever one of its module objects is
    still referenced then; they are not real leaks (warehouse connections are closed
    by now). Skipping finalization keeps the command's output exactly what it printed.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
