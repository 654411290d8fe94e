"""Where shipped data lives: mappings and schemas are package data, found the same way
in an editable checkout and in an installed wheel."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path


@cache
def _root(package: str) -> Path:
    return Path(str(resources.files(package)))


def mapping_path(*parts: str) -> Path:
    """A file or folder under `mappings/` (e.g. mapping_path("eu", "codes.toml"))."""
    return _root("mappings").joinpath(*parts)


def schema_path(*parts: str) -> Path:
    """A file or folder under `schemas/` (e.g. schema_path("eu", "ccc-1.0.xsd"))."""
    return _root("schemas").joinpath(*parts)


def adapters_path(*parts: str) -> Path:
    """A file under `adapters/`, where the shipped agreements configuration lives."""
    return _root("adapters").joinpath(*parts)
