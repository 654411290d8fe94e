"""Paths given on the command line: files as they are, folders as their supported files in
name order (sub-folders with `recursive`); anything else is one clear error."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from exchange.errors import ExchangeError

DOMESTIC_SUFFIXES = (".json", ".jsonl", ".csv")
"""What a domestic export can be."""
DOCUMENT_SUFFIXES = (".xml", ".jsonld", ".json")
"""What a partner document can be."""


class InputError(ExchangeError):
    """A path that is not a readable file or a folder with supported files in it."""


def expand(paths: Iterable[Path], suffixes: Sequence[str], recursive: bool = False) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(_folder(path, suffixes, recursive))
        else:
            raise InputError(f"{path}: no such file or folder")
    return files


def _folder(folder: Path, suffixes: Sequence[str], recursive: bool) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    found = sorted(
        (p for p in candidates if p.is_file() and p.suffix.lower() in suffixes),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not found:
        hint = (
            ""
            if recursive or not any(p.is_dir() for p in folder.iterdir())
            else " (--recursive reads sub-folders)"
        )
        raise InputError(f"{folder}: a folder without {', '.join(suffixes)} files{hint}")
    return found
