"""Partner format versions (exchange/formats/xml.py): we write 1.2; 1.2, 1.1 and 1.0 are
read, each against the schema of the version its root names. 1.1 places the signature (last
child) and the Id; 1.2 adds the record's version number (recordVersion, docs/versions.md);
1.0 has neither, and a 1.0 document's enveloped signature is set aside for validation only
(the transition, docs/signatures.md)."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from adapters.nz import format as nz_format
from exchange.errors import DocumentError
from exchange.model import Kind
from exchange.signing import DS_NS
from tests import canonical_samples as samples


def document(**attrs: str) -> etree._Element:
    root = etree.fromstring(nz_format.convert(samples.certificate()))
    for name, value in attrs.items():
        root.set(name, value)
    return root


def with_signature(root: etree._Element, *, first: bool = False) -> bytes:
    """A structurally valid ds:Signature (the schema checks its shape, not its value)."""
    sig = etree.fromstring(
        f'<ds:Signature xmlns:ds="{DS_NS}"><ds:SignedInfo>'
        '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
        '<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        f'<ds:Reference URI="#{root.get("Id", "")}"><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        "<ds:DigestValue>AAAA</ds:DigestValue></ds:Reference></ds:SignedInfo>"
        "<ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature>"
    )
    root = copy.deepcopy(root)
    root.insert(0, sig) if first else root.append(sig)
    return etree.tostring(root)


def test_we_write_1_2_and_read_it_with_its_id_and_signature_last() -> None:
    root = document(Id="doc-1")
    assert root.get("version") == "1.2"
    assert nz_format.check_bytes(with_signature(root)).value == "ccc"
    assert nz_format.parse(with_signature(root)).record_id == samples.certificate().record_id


def test_1_2_carries_the_record_version_1_1_refuses_it() -> None:
    stamped = nz_format.stamp_version(Kind.CCC, nz_format.map(samples.certificate()), 3)
    nz_format.validate(Kind.CCC, stamped)
    root = etree.fromstring(stamped)
    assert root.get("recordVersion") == "3"
    assert nz_format.parse(with_signature(root)).record_id == samples.certificate().record_id
    with pytest.raises(DocumentError, match="recordVersion"):
        nz_format.check_bytes(etree.tostring(document(version="1.1", recordVersion="3")))
    with pytest.raises(DocumentError, match="recordVersion"):
        nz_format.check_bytes(etree.tostring(document(recordVersion="0")))
    assert nz_format.check_bytes(etree.tostring(document(version="1.1", Id="doc-1"))).value == "ccc"


def test_a_partner_added_as_files_without_a_place_for_it_gets_its_document_unchanged() -> None:
    from exchange.config import load_config
    from exchange.registry import partner_format

    jp = partner_format(load_config().partners["jp"])
    mapped = jp.map(samples.pt_round())
    assert jp.stamp_version(Kind.PT, mapped, 2) == mapped


def test_1_2_refuses_a_misplaced_signature_and_a_version_it_does_not_know() -> None:
    with pytest.raises(DocumentError, match="Signature"):
        nz_format.check_bytes(with_signature(document(Id="doc-1"), first=True))
    with pytest.raises(DocumentError, match=r"ccc-1\.2\.xsd"):
        nz_format.check_bytes(etree.tostring(document(version="2.0")))


def test_1_0_is_read_as_1_0_signature_set_aside_but_never_an_id() -> None:
    old = document(version="1.0")
    assert nz_format.check_bytes(etree.tostring(old)).value == "ccc"
    assert nz_format.check_bytes(with_signature(old)).value == "ccc"  # as partners signed 1.0
    with pytest.raises(DocumentError, match="Id"):
        nz_format.check_bytes(etree.tostring(document(version="1.0", Id="doc-1")))
