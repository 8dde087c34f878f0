"""Progress on a terminal, nothing when the output is not one."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from flows.cli import app
from flows.progress import show_stage, terminal_progress


def test_a_terminal_shows_the_running_stage() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    with terminal_progress(console, "starting"):
        show_stage("validate orders")
    assert "validate orders" in screen.getvalue()


def test_nothing_is_drawn_when_the_output_is_not_a_terminal() -> None:
    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=80)
    with terminal_progress(console, "starting"):
        show_stage("validate orders")
    assert log.getvalue() == ""
    show_stage("outside any display")  # harmless


def test_a_piped_refresh_prints_no_progress_characters(
    runner: CliRunner, orders_only: Path
) -> None:
    result = runner.invoke(app, ["refresh", "--config", str(orders_only), "--as-of", "2024-06-01"])
    assert result.exit_code == 0, result.output
    assert "\x1b[?25l" not in result.output  # the cursor-hiding code a live display uses
    assert "⠋" not in result.output


@pytest.mark.filterwarnings("ignore:Logger 'prefect.flow_runs' attempted to send logs")
def test_log_lines_print_above_the_spinner_not_into_it() -> None:
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    from flows.progress import log_to_console

    screen, elsewhere = io.StringIO(), io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    prefect_handler = PrefectConsoleHandler(stream=elsewhere)
    prefect_logger = logging.getLogger("prefect.flow_runs")
    prefect_logger.addHandler(prefect_handler)
    log_to_console()
    try:
        with terminal_progress(console, "starting"):
            show_stage("transform")
            logging.getLogger("personas").info("transform: customers 3 in 0.01 s")
            prefect_logger.warning("Flow run 'x' - something [notify] said")
        # both lines went through the live display's console, none to the side stream
        assert "transform: customers 3" in screen.getvalue()
        assert "something [notify] said" in screen.getvalue()  # markup left alone
        assert elsewhere.getvalue() == ""
        # afterwards Prefect's handler writes to its own stream again
        prefect_logger.warning("after the spinner")
        assert "after the spinner" in elsewhere.getvalue()
    finally:
        prefect_logger.removeHandler(prefect_handler)
