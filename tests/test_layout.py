"""The shape of exchange/: no import circles, transports apart from the service core, and
no partner code (issue 15). Read from the source (grimp parses imports, never runs them)."""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

import exchange

PACKAGE = Path(exchange.__file__).parent
ROOT = PACKAGE.parent

TRANSPORTS = "exchange.transports"

ENTRY_POINTS = frozenset(
    {
        "exchange.cli",
        "exchange.service.cli",
        "exchange.service.ops_cli",
        "exchange.soap.cli",
        "exchange.service.bench",
        "exchange.service.bench_e2e",
    }
)
"""Commands and benchmarks wire the parts together, so they alone may name a transport's
modules (simulate-partner, provision, a benchmark's partner on its vhost)."""


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # Imports under `if TYPE_CHECKING:` are left out: they never run (every module has
    # `from __future__ import annotations`), so they cannot fail at import time or tie two
    # modules' start-up together; they only let the type checker see the other's classes.
    return grimp.build_graph("exchange", cache_dir=None, exclude_type_checking_imports=True)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), plus a
    module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work.append((root, iter(sorted(graph.find_modules_directly_imported_by(root)))))
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child == node:
                    found.append([node])
                elif child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    component.append(m)
                    if m == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _why(graph: grimp.ImportGraph, cycle: list[str]) -> list[str]:
    members = set(cycle)
    lines = []
    for m in cycle:
        for other in sorted(graph.find_modules_directly_imported_by(m) & members):
            for d in graph.get_import_details(importer=m, imported=other):
                lines.append(f"{m}:{d['line_number']} {d['line_contents']}")
    return lines


def test_the_cycle_finder_finds_a_cycle() -> None:
    g = grimp.ImportGraph()
    for m in ("a", "b", "c", "d"):
        g.add_module(m)
    g.add_import(importer="a", imported="b")
    g.add_import(importer="b", imported="c")
    g.add_import(importer="c", imported="a")
    g.add_import(importer="c", imported="d")
    assert _cycles(g) == [["a", "b", "c"]]


def test_the_graph_is_the_real_one(graph: grimp.ImportGraph) -> None:
    """Not an empty or partial graph passing by accident: imports inside functions count."""
    assert len(graph.modules) > 150
    assert "exchange.service.service" in graph.find_modules_directly_imported_by("exchange.service.cli")
    assert graph.direct_import_exists(
        importer="exchange.service.service", imported="exchange.service.ops.queues"
    )


def test_no_import_circles_in_exchange(graph: grimp.ImportGraph) -> None:
    cycles = _cycles(graph)
    assert not cycles, "\n\n".join("\n".join(_why(graph, c)) for c in cycles)


def test_core_endpoint_and_console_never_reach_a_transports_internals(graph: grimp.ImportGraph) -> None:
    """The service core, the SOAP endpoint and the console reach transports only through the
    registry (by name, at run time), never by importing them, directly or through others."""
    readers = sorted(
        m
        for m in graph.modules
        if m.startswith(("exchange.", "exchange")) and not m.startswith(TRANSPORTS) and m not in ENTRY_POINTS
    )
    assert "exchange.console.backend" in readers and "exchange.soap.app" in readers
    reached = {
        m: sorted(t for t in graph.find_upstream_modules(m) if t.startswith(TRANSPORTS + "."))
        for m in readers
    }
    leaks = {m: t for m, t in reached.items() if t and not _only_through_entry_points(graph, m, t)}
    assert not leaks, leaks


def _only_through_entry_points(graph: grimp.ImportGraph, module: str, targets: list[str]) -> bool:
    for t in targets:
        chain = graph.find_shortest_chain(importer=module, imported=t)
        if chain is None or not any(link in ENTRY_POINTS for link in chain):
            return False
    return True


def _transport_packages() -> list[str]:
    folder = PACKAGE / "transports"
    return sorted(p.name for p in folder.iterdir() if (p / "__init__.py").is_file())


def test_every_agreement_transport_has_its_package_and_they_do_not_import_each_other(
    graph: grimp.ImportGraph,
) -> None:
    packages = _transport_packages()
    assert {"amqp", "soap_push", "soap_pull", "stream", "file"} <= set(packages)
    for name in packages:
        assert (PACKAGE / "transports" / name / "plugin.py").is_file(), name
        own = f"{TRANSPORTS}.{name}"
        others = tuple(f"{TRANSPORTS}.{p}" for p in packages if p != name)
        for m in graph.find_descendants(own) | {own}:
            for imported in graph.find_modules_directly_imported_by(m):
                assert not imported.startswith(others), f"{m} imports {imported}"


# -- no partner code ---------------------------------------------------------------------------


def _partner_codes() -> set[str]:
    """Every partner we have or plan: the agreements, the partners' folders, and the codes
    issue 15 names (a partner added later brings its own folder under adapters/)."""
    agreements = tomllib.loads((ROOT / "adapters" / "agreements.toml").read_text())
    codes = set(agreements.get("partners", {}))
    for top in ("adapters", "mappings", "schemas"):
        codes |= {p.name for p in (ROOT / top).iterdir() if p.is_dir() and not p.name.startswith("_")}
    codes -= {"domestic", "canonical", "soap"}  # our own side and shared contracts
    return codes | {"eu", "kr", "nz", "bri", "no", "jp"}


WORDS = frozenset({"no"})
"""Codes that are also English words: in identifiers (no_key, NO_KEY_NOTE) they mean the
word, so only string values are checked for them."""

KNOWN = {
    ("exchange/transports/soap_push/simulator.py", "eu"),
    ("exchange/transports/soap_push/bench.py", "eu"),
    ("exchange/transports/soap_push/bench.py", "nz"),
    ("exchange/transports/soap_pull/simulator.py", "nz"),
    ("exchange/soap/loopback.py", "eu"),
    ("exchange/soap/loopback.py", "nz"),
    ("exchange/service/cli.py", "eu"),
    ("exchange/service/cli.py", "kr"),
    ("exchange/service/cli.py", "nz"),
    ("exchange/formats/json_schema.py", "bri"),
    ("exchange/service/bench.py", "eu"),
    ("exchange/service/topology.py", "bri"),
}
"""Partner code still in exchange/ when the structure was laid out, to be removed (not added
to): the eu simulator's own contract as its default, the nz pulling simulator's name (the
push and pull simulators serve any partner by its agreement now), the loopback rig and
benchmarks of the SOAP tests,
`exchange bench pipeline --partner eu` (a default that is user interface) and the help of
simulate-partner's per-partner options, an error pointing at adapters/bri/schema.py, the stream
`bri.feed` (a queue name on running brokers).
An entry that no longer matches fails too, so the list only shrinks."""


def _string_hits(value: str, codes: set[str]) -> set[str]:
    hits = {c for c in codes if value == c}
    for c in codes:
        # a path, URN, queue or file name segment: sim-keys/eu, urn:..:eu:soap, bri.feed,
        # partner-eu-1.0.wsdl, mra-nz
        if re.search(rf"(^|[/:])({c})([/:.]|$)|^{c}\.|partner[-_]{c}\b", value):
            hits.add(c)
    return hits


def _identifier_hits(name: str, codes: set[str]) -> set[str]:
    tokens = set(re.split(r"_+", name.lower()))
    return {c for c in codes - WORDS if c in tokens}


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            ids.add(id(node.value))  # attribute docstrings
    return ids


def partner_code(path: Path, codes: set[str], root: Path = ROOT) -> set[str]:
    """The partner codes a module uses as identifiers: in its file or package name, in names
    it defines or uses, in string values (not docstrings or comments)."""
    rel = path.relative_to(root)
    found = set()
    for part in rel.with_suffix("").parts:
        found |= _identifier_hits(part, codes)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            found |= _string_hits(node.value, codes)
        elif isinstance(node, ast.Name):
            found |= _identifier_hits(node.id, codes)
        elif isinstance(node, ast.Attribute):
            found |= _identifier_hits(node.attr, codes)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found |= _identifier_hits(node.name, codes)
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            found |= _identifier_hits(node.arg, codes)
    return found


def test_the_partner_code_finder_finds_partner_code(tmp_path: Path) -> None:
    codes = {"eu", "nz", "no"}
    sample = tmp_path / "exchange" / "transports" / "partner_nz_sample.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        '"""A docstring naming eu and no is fine."""\n'
        'WSDLS = {"eu": "partner-eu-1.0.wsdl"}\n'
        'KEYS = "sim-keys/eu"\n'
        "def _eu(no_key: int) -> None:\n"
        '    return {"answer": "no"}.get("no")\n'
    )
    assert partner_code(sample, codes, tmp_path) == {"eu", "nz", "no"}
    plain = tmp_path / "exchange" / "transports" / "plain.py"
    plain.write_text('NO_KEY_NOTE = "no-store"\nnote = "Europe, queue mra.work"\n')
    assert partner_code(plain, codes, tmp_path) == set()


def test_exchange_contains_no_partner_code() -> None:
    codes = _partner_codes()
    assert {"eu", "kr", "nz", "bri", "no", "jp"} <= codes
    found = {
        (str(path.relative_to(ROOT)), code)
        for path in sorted(PACKAGE.rglob("*.py"))
        for code in partner_code(path, codes)
    }
    assert not found - KNOWN, (
        f"partner code in exchange/ (choose by agreement instead): {sorted(found - KNOWN)}"
    )
    assert not KNOWN - found, f"no longer there, drop from KNOWN: {sorted(KNOWN - found)}"
