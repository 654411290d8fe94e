"""One behaviour suite that every partner format in the agreements runs:
convert, validate, round trip, out of scope, unmapped code."""

from __future__ import annotations

import pytest

from exchange.config import load_config
from exchange.errors import DocumentError, MappingError
from exchange.intake import CanonicalRecord
from exchange.model import Kind
from exchange.partner import PartnerFormat
from exchange.registry import partner_format
from exchange.scope import out_of_scope
from tests import canonical_samples as samples

CONFIG = load_config()
CASES = [(p, k) for p, a in sorted(CONFIG.partners.items()) for k in sorted(a.families)]


def _fmt(partner: str) -> PartnerFormat:
    return partner_format(CONFIG.partners[partner])


def _sample(kind: Kind) -> CanonicalRecord:
    if kind is Kind.CCC:
        return samples.certificate()
    if kind is Kind.GLP:
        return samples.glp_statement()
    return samples.scored_pt_round()


@pytest.mark.parametrize(("partner", "kind"), CASES)
def test_converts_and_the_output_validates(partner: str, kind: Kind) -> None:
    fmt = _fmt(partner)
    data = fmt.convert(_sample(kind))
    assert fmt.check_bytes(data) == kind


@pytest.mark.parametrize(("partner", "kind"), CASES)
def test_round_trip_preserves_what_the_format_carries(partner: str, kind: Kind) -> None:
    fmt = _fmt(partner)
    first = fmt.convert(_sample(kind))
    again = fmt.convert(fmt.parse(first))
    assert again == first


@pytest.mark.parametrize(("partner", "kind"), CASES)
def test_a_tampered_document_is_invalid(partner: str, kind: Kind) -> None:
    fmt = _fmt(partner)
    data = fmt.convert(_sample(kind))
    if data.lstrip().startswith(b"{"):  # JSON: an unknown member at the top
        tampered = data.replace(b"{", b'{"bogus": 1, ', 1)
    else:  # XML: an element the schema does not know, first thing in the root
        root_end = data.index(b">", data.index(b"<", data.index(b"?>") + 2))
        tampered = data[: root_end + 1] + b"<Bogus/>" + data[root_end + 1 :]
    with pytest.raises(DocumentError):
        fmt.check_bytes(tampered)


@pytest.mark.parametrize(("partner", "kind"), CASES)
def test_hostile_documents_are_refused(partner: str, kind: Kind) -> None:
    fmt = _fmt(partner)
    for hostile in (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        b"<a>" * 200 + b"</a>" * 200,
        b"<a>" + b"x" * (9 * 1024 * 1024) + b"</a>",
        b"\xff\xfe\x00garbage",
    ):
        with pytest.raises(DocumentError):
            fmt.parse(hostile)


@pytest.mark.parametrize("partner", sorted(CONFIG.partners))
def test_families_outside_the_agreement_are_out_of_scope(partner: str) -> None:
    agreement = CONFIG.partners[partner]
    for kind in Kind:
        reason = out_of_scope(agreement, _sample(kind))
        if kind in agreement.families and kind is not Kind.CCC:
            assert reason is None
        elif kind not in agreement.families:
            assert reason is not None and partner in reason
    narrowed = agreement.model_copy(update={"families": frozenset()})
    assert out_of_scope(narrowed, _sample(Kind.CCC)) is not None


@pytest.mark.parametrize("partner", sorted(p for p, a in CONFIG.partners.items() if Kind.CCC in a.families))
def test_an_unmapped_category_names_field_and_partner(partner: str) -> None:
    fmt = _fmt(partner)
    domains = {c.domain for c in fmt.code_lists(Kind.CCC).values()}
    assert "category" in domains, f"{partner} maps no product categories"
    with pytest.raises(MappingError) as caught:
        fmt.map(samples.certificate(category="0999"))
    assert "product.category" in str(caught.value)
    assert partner in str(caught.value)
