"""`exchange pt ...` commands: score a domestic PT round file.

Exit codes: 0 scored; 1 the round cannot be scored (invalid field, or a
failure mode of the statistics); 2 usage errors and unreadable or non-JSON input.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import ValidationError
from rich.console import Console

from exchange.model.pt import PtRound
from exchange.pt.errors import PtError
from exchange.pt.render import render_table
from exchange.pt.scoring import score_round

app = typer.Typer(help="Proficiency-testing statistics (ISO 13528).", no_args_is_help=True)


class OutputFormat(StrEnum):
    JSON = "json"
    TABLE = "table"


def _check_tolerance(value: float | None) -> float | None:
    if value is not None and not (0 < value < float("inf")):
        raise typer.BadParameter("must be a number greater than 0")
    return value


@app.command("score")
def score(
    path: Annotated[
        Path, typer.Argument(metavar="ROUND.json", help="A PT round in the domestic JSON shape.")
    ],
    fmt: Annotated[OutputFormat, typer.Option("--format", help="json (machine) or table (people).")] = (
        OutputFormat.JSON
    ),
    tolerance: Annotated[
        Optional[float],  # noqa: UP045 - typer reads the annotation at run time
        typer.Option(
            callback=_check_tolerance,
            help="Tighter Algorithm A stop: each change at most this times s*.",
        ),
    ] = None,
) -> None:
    """Score a round: Algorithm A, z, z′, ζ, En and their signals (ISO 13528:2022)."""
    obj = _read_json(path)
    try:
        round = PtRound.model_validate(obj)
    except ValidationError as e:
        for message in validation_messages(e, obj):
            _fail(f"{path}: {message}")
        raise typer.Exit(1) from None
    try:
        scored = score_round(round, tolerance=tolerance)
    except PtError as e:
        _fail(f"{path}: {e}")
        raise typer.Exit(1) from None
    assert scored.scoring is not None
    if fmt is OutputFormat.TABLE:
        render_table(scored, scored.scoring, Console(highlight=False))
    else:
        out = scored.scoring.model_dump(mode="json", by_alias=True)
        sys.stdout.write(json.dumps(out, ensure_ascii=False, indent=2) + "\n")


def validation_messages(error: ValidationError, obj: Any) -> list[str]:
    """One line per problem, naming the field as it is written in the file.

    `results[3].k (lab L04): Input should be greater than 0 (got -2)`.
    """
    lines = []
    for err in error.errors():
        loc = tuple(err["loc"])
        where = _path(loc)
        lab = _lab(loc, obj)
        if lab:
            where += f" (lab {lab})"
        got = err.get("input")
        shown = "" if err["type"] == "missing" or isinstance(got, dict | list) else f" (got {got!r})"
        msg = err["msg"].removeprefix("Value error, ")  # our validators' own words
        lines.append(f"{where}: {msg}{shown}")
    return lines


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "round"


def _lab(loc: tuple[int | str, ...], obj: Any) -> str | None:
    if len(loc) >= 2 and loc[0] == "results" and isinstance(loc[1], int) and isinstance(obj, dict):
        results = obj.get("results")
        if isinstance(results, list) and loc[1] < len(results) and isinstance(results[loc[1]], dict):
            lab = results[loc[1]].get("lab")
            return lab if isinstance(lab, str) else None
    return None


def _read_json(path: Path) -> Any:
    try:
        text = path.read_bytes().decode("utf-8-sig")  # UTF-8, with or without a BOM
    except OSError as e:
        _fail(f"{path}: cannot read: {e.strerror or e}")
        raise typer.Exit(2) from None
    except UnicodeDecodeError as e:
        _fail(f"{path}: not UTF-8 text (byte {e.start}): {e.reason}")
        raise typer.Exit(2) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        _fail(f"{path}: not JSON: {e.msg} at line {e.lineno} column {e.colno}")
        raise typer.Exit(2) from None


def _fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
