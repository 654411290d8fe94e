"""`exchange pt ...` commands (placeholder, being written)."""

import typer

app = typer.Typer(help="Proficiency-testing statistics (ISO 13528).", no_args_is_help=True)
