"""What every `backbone` command shares at the terminal: its two consoles, the one way a command stops
on a user's mistake, and the --home option."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

EXIT_UNUSABLE = 2

# soft_wrap: messages stay on one line whatever the terminal width (and whole in logs and pipes).
console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

home_option = click.option(
    "--home",
    type=click.Path(path_type=Path),
    default=None,
    help="Instance directory (default $BACKBONE_HOME or ./.backbone).",
)


def fail(message: str, code: int = EXIT_UNUSABLE) -> NoReturn:
    """Print `message` as an error and exit with `code`: a user's mistake never shows a traceback."""
    err.print(f"[bold red]error:[/] {escape(message)}")  # a partner's column name may hold [brackets]
    sys.exit(code)
