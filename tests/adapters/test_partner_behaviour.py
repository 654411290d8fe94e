"""One behaviour suite that every partner format in the agreements runs: start-up check,
convert, validate, round trip compared as canonical records (any loss the manifest does not
declare fails), one sample per status, category, GLP code and PT signal, out of scope,
unmapped code. The partner set comes from the agreements, never from this file."""

from __future__ import annotations

import pytest

from exchange.checks import mapping_problems
from exchange.config import load_config
from exchange.errors import DocumentError, MappingError
from exchange.intake import CanonicalRecord
from exchange.model import CertStatus, GlpArea, GlpStatus, InspectionType, Kind, Signal
from exchange.partner import PartnerFormat
from exchange.registry import partner_format
from exchange.scope import categories_in_scope, out_of_scope
from tests import canonical_samples as samples
from tests.adapters.full_samples import (
    full_certificate,
    full_glp_statement,
    full_pt_round,
    full_sample,
    lost_fields,
)

CONFIG = load_config()
CASES = [(p, k) for p, a in sorted(CONFIG.partners.items()) for k in sorted(a.families)]


def _receiving(kind: Kind) -> list[str]:
    return sorted(p for p, a in CONFIG.partners.items() if kind in a.families)


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
def test_a_round_trip_loses_nothing_the_format_carries(partner: str, kind: Kind) -> None:
    """Every optional field filled, compared as canonical records: a field a template drops
    fails here unless the manifest declares it in `not_carried`."""
    assert lost_fields(_fmt(partner), full_sample(kind)) == {}


@pytest.mark.parametrize("partner", sorted(CONFIG.partners))
def test_the_start_up_check_passes(partner: str) -> None:
    assert mapping_problems(CONFIG, [partner]) == []


@pytest.mark.parametrize("partner", _receiving(Kind.CCC))
def test_every_certificate_status_and_category_round_trips(partner: str) -> None:
    fmt = _fmt(partner)
    for status in CertStatus:
        history = [{"date": samples.certificate().issue_date, "status": status.value}]
        record = full_certificate(status=status.value, history=history)
        assert lost_fields(fmt, record) == {}, status
    for category in sorted(categories_in_scope(CONFIG.partners[partner])):
        record = full_certificate(product={**samples.certificate_data()["product"], "category": category})
        data = fmt.convert(record)
        assert fmt.check_bytes(data) is Kind.CCC
        assert fmt.parse(data).product.category == category  # type: ignore[union-attr]


@pytest.mark.parametrize("partner", _receiving(Kind.GLP))
def test_every_glp_status_area_and_inspection_type_round_trips(partner: str) -> None:
    fmt = _fmt(partner)
    for status in GlpStatus:
        assert lost_fields(fmt, full_glp_statement(status=status.value)) == {}, status
    every_area = [int(a) for a in GlpArea]
    inspections = [{"date": samples.glp_statement().statement_date, "type": t.value} for t in InspectionType]
    assert lost_fields(fmt, full_glp_statement(areas=every_area, inspections=inspections)) == {}


@pytest.mark.parametrize("partner", _receiving(Kind.PT))
def test_every_pt_signal_round_trips(partner: str) -> None:
    fmt = _fmt(partner)
    record = full_pt_round()
    assert record.scoring is not None
    sent = {s for r in record.scoring.results for s in r.signals.model_dump().values() if s is not None}
    assert sent == set(Signal), "the sample must score every signal"
    back = fmt.parse(fmt.convert(record))
    assert back.scoring is not None  # type: ignore[union-attr]
    assert [r.signals for r in back.scoring.results] == [r.signals for r in record.scoring.results]  # type: ignore[union-attr]


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
