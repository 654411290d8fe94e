"""`exchange console hash-password`: a password hash for the console's users file."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)
MIN_LENGTH = 12


def hash_password_cmd(
    user: Annotated[
        str | None, typer.Option("--user", help="Print a users-file entry for this user.")
    ] = None,
    role: Annotated[str, typer.Option("--role", help="viewer (read-only) or operator.")] = "viewer",
) -> None:
    """Hash a console password (read from stdin, or prompted) for EXCHANGE_CONSOLE_USERS."""
    from exchange.console.accounts import Role
    from exchange.soap.credentials import hash_password

    if role not in {r.value for r in Role}:
        err.print("[bold red]error:[/] --role is viewer or operator")
        raise typer.Exit(2)
    if sys.stdin.isatty():
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        err.print(f"[bold red]error:[/] the password must be at least {MIN_LENGTH} characters")
        raise typer.Exit(2)
    hashed = hash_password(password)
    if user is None:
        typer.echo(hashed)
        return
    typer.echo(f'[users.{user}]\nrole = "{role}"\npassword_hash = "{hashed}"')


def register_console(app: typer.Typer) -> None:
    console = typer.Typer(help="The operations console at /ops.", no_args_is_help=True)
    console.command("hash-password")(hash_password_cmd)
    app.add_typer(console, name="console")
