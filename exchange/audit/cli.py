"""`exchange audit ...` commands (placeholder, being written)."""

import typer

app = typer.Typer(help="Audit trail: trace, verify, export.", no_args_is_help=True)
