"""The `exchange` command: one typer app, sub-apps mounted from their own modules."""

from __future__ import annotations

import typer

from exchange.audit.cli import app as audit_app
from exchange.pt.cli import app as pt_app

app = typer.Typer(
    name="exchange",
    help="mra-exchange: conformity-assessment results to and from MRA partners.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(pt_app, name="pt")
app.add_typer(audit_app, name="audit")


@app.callback()
def _root() -> None:
    """mra-exchange command line."""


def main() -> None:
    app()
