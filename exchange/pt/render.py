"""A scored round as a table for people: aligned columns, signals marked."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from exchange.model.pt import PtRound, PtScoring, Signal

_STYLE = {Signal.ACCEPTABLE: "green", Signal.WARNING: "yellow", Signal.ACTION: "bold red"}
_MARK = {Signal.ACCEPTABLE: "", Signal.WARNING: " !", Signal.ACTION: " !!"}
"""Marks as well as colours, so the signal survives a terminal without colour."""


def render_table(round: PtRound, scoring: PtScoring, console: Console) -> None:
    a, s = scoring.assigned, scoring.sigma_pt
    console.print(
        f"[bold]{round.record_id}[/bold]  {round.measurand} in {round.matrix} ({round.unit})",
        highlight=False,
    )
    u = "n/a" if a.u is None else f"{a.u:.4g}"
    negligible = {True: "negligible", False: "not negligible", None: "unknown"}[a.u_negligible]
    console.print(f"x_pt = {a.value:.6g} ({a.method.value}), u(x_pt) = {u} ({negligible})", highlight=False)
    console.print(
        f"σ_pt = {s.value:.4g} ({s.method.value}), participants p = {scoring.participants}",
        highlight=False,
    )
    if scoring.algorithm_a is not None:
        alg = scoring.algorithm_a
        console.print(
            f"Algorithm A: x* = {alg.mean:.6g}, s* = {alg.sd:.4g}, {alg.iterations} iterations",
            highlight=False,
        )

    table = Table(caption="! warning (2 < |s| < 3)   !! action (|s| ≥ 3; |En| ≥ 1)")
    table.add_column("lab")
    table.add_column("value", justify="right")
    for header in ("z", "z′", "ζ", "En"):
        table.add_column(header, justify="right")
    table.add_column("remark")
    for r in scoring.results:
        sig = r.signals
        table.add_row(
            r.lab,
            "—" if r.value is None else repr(r.value),
            _cell(r.z, sig.z),
            _cell(r.z_prime, sig.z_prime),
            _cell(r.zeta, sig.zeta),
            _cell(r.en, sig.en),
            r.remark or "",
        )
    console.print(table)


def _cell(value: float | None, signal: Signal | None) -> Text:
    if value is None or signal is None:
        return Text("—", style="dim")
    return Text(f"{value:.2f}{_MARK[signal]}", style=_STYLE[signal])
