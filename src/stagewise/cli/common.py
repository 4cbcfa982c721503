"""What every command group shares: rich tables on stdout, and one-line errors for a user's bad input."""

from __future__ import annotations

import logging

log = logging.getLogger("stagewise")


def show_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for i, h in enumerate(header):  # the first column names the row: left-aligned, never wrapped
        table.add_column(h, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for r in rows:
        table.add_row(*r)
    Console(width=max(Console().width, 110)).print(table)


def user_errors(fn):
    """Bad names, modes and prediction files end with a one-line error (exit 2), not a traceback."""

    def wrapped(args) -> int:
        try:
            return fn(args)
        except (ValueError, ImportError) as e:
            log.error("%s", e)
            return 2

    return wrapped
