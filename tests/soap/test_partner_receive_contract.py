"""The partner-neutral contract we publish for partners to implement,
schemas/soap/partner-receive-1.0.wsdl (+ .xsd), proven with implementations we did not
write: the XSD compiles in libxml2 (xmllint) and xmlschema; the request our outbound client
sends and the receipt a partner answers with validate against it; the receipt verifies
with xmlsec1 inside the response; suds (not zeep) loads the WSDL, finds ReceiveDocument
with its header, and calls a service implementing it. The agreement chooses the contract:
the neutral one by default, a partner's own shipped WSDL (eu), or soap_wsdl."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from exchange.config import Agreement
from exchange.errors import ConfigError
from exchange.signing import KeyPairFiles, Signer
from exchange.soap.contract import contract_path
from exchange.transports.soap_push.outbound import OutboundClient, OutboundSettings, Outcome, ReceiptStore
from exchange.transports.soap_push.receive_contract import NEUTRAL_WSDL, contract_of, read_contract
from exchange.transports.soap_push.simulator import PartnerEuApp, PartnerSimulator
from exchange.xml.safe import parse_bytes
from tests.interop.tools import verified, xmllint_valid, xmlschema_valid, xmlsec1_verify
from tests.soap.support import nz_document, post

NS = "urn:mra-exchange:partner:soap:1.0"
XSD = contract_path("partner-receive-1.0.xsd")
WSDL = contract_path(NEUTRAL_WSDL)


class Recording(PartnerEuApp):
    """The simulated receiving service, keeping each request body as it arrived."""

    requests: list[bytes]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ.get("REQUEST_METHOD") == "POST":
            self.requests.append(body)
        environ["wsgi.input"] = io.BytesIO(body)
        return super().__call__(environ, start_response)


def agreement(**options: Any) -> Agreement:
    return Agreement(
        partner="zz", name="Test", format="adapters.nz:format", families=frozenset({"ccc"}),
        transport="soap", options=options,
    )  # fmt: skip


def neutral_app(partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles) -> Recording:
    keys = partner_keys["eu"]
    app = Recording(
        Signer.from_files(keys.key, keys.certificate),
        our_keys.certificate.read_bytes(),
        contract=read_contract(WSDL),
        path="/zz/receive",
        name="zz",
    )
    app.requests = []
    return app


def part(raw: bytes, tag: str, path: Path) -> Path:
    found = parse_bytes(raw).find(f".//{{{NS}}}{tag}")
    assert found is not None, raw[:500]
    path.write_bytes(etree.tostring(found))
    return path


def test_the_wsdl_and_xsd_are_well_formed_and_the_xsd_compiles_in_xmllint_and_xmlschema(
    tmp_path: Path,
) -> None:
    import xmlschema

    schema = xmlschema.XMLSchema(str(XSD))
    assert {"MessageInfo", "ReceiveDocument", "ReceiveDocumentResponse", "FaultDetail"} <= set(
        schema.elements
    )
    # xmllint compiles the schema to validate anything: a FaultDetail instance
    fault = tmp_path / "fault.xml"
    fault.write_bytes(
        f'<p:FaultDetail xmlns:p="{NS}"><p:Code>UNAVAILABLE</p:Code>'
        "<p:Message>later</p:Message></p:FaultDetail>".encode()
    )
    assert xmllint_valid(XSD, [fault])[fault] and xmlschema_valid(XSD, [fault])[fault] is None
    bad = tmp_path / "bad.xml"
    bad.write_bytes(f'<p:FaultDetail xmlns:p="{NS}"><p:Code>X</p:Code></p:FaultDetail>'.encode())
    assert not xmllint_valid(XSD, [bad])[bad] and xmlschema_valid(XSD, [bad])[bad] is not None
    contract = read_contract(WSDL)
    assert contract.namespace == NS
    assert contract.binding == "{urn:mra-exchange:partner:soap:1.0:wsdl}PartnerReceiveSoap11"
    assert b"eu" not in WSDL.read_bytes().replace(b"neutral", b"")  # no partner named in it


def test_our_push_and_the_partners_receipt_validate_and_the_receipt_verifies_with_xmlsec1(
    partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles, tmp_path: Path
) -> None:
    app = neutral_app(partner_keys, our_keys)
    with PartnerSimulator(app) as sim:
        settings = OutboundSettings(
            "zz", sim.url, partner_keys["eu"].certificate.read_bytes(), contract=read_contract(WSDL)
        )
        receipts = ReceiptStore(f"sqlite:///{tmp_path / 'receipts.db'}")
        client = OutboundClient(settings, Signer.from_files(our_keys.key, our_keys.certificate), receipts)
        try:
            result = client.send(nz_document(), message_id="m-1", conversation_id="c-1")
            again = client.send(nz_document(), message_id="m-1", conversation_id="c-1")
        finally:
            client.close()
        replayed = post(sim.url, app.requests[0])  # the answer as a partner's tool receives it
    assert replayed.status == 200, replayed.body[:500]
    answer = replayed.body
    assert result.outcome is Outcome.ACKNOWLEDGED and result.receipt_id, result
    assert again.outcome is Outcome.ACKNOWLEDGED and again.receipt_id == result.receipt_id
    assert app.stats.as_dict()["acknowledged"] == 1 and app.stats.duplicates == 2
    (stored,) = receipts.for_message("zz", "m-1")
    request = app.requests[0]
    files = [part(request, "ReceiveDocument", tmp_path / "request.xml")]
    files.append(part(request, "MessageInfo", tmp_path / "header.xml"))
    files.append(part(answer, "ReceiveDocumentResponse", tmp_path / "response.xml"))
    lint, library = xmllint_valid(XSD, files), xmlschema_valid(XSD, files)
    assert all(lint.values()), lint
    assert all(v is None for v in library.values()), library
    whole = tmp_path / "answer.xml"
    whole.write_bytes(answer)
    check = xmlsec1_verify(whole, partner_keys["eu"].certificate, f"{NS}:Receipt", signature_of="Receipt")
    assert verified(check), check.output
    assert stored.status == "ACK"
    sent = base64.b64decode(parse_bytes(request).findtext(f".//{{{NS}}}Document") or "")
    assert b"<ds:Signature" in sent or b"Signature" in sent  # our enveloped signature travels


def test_suds_loads_the_neutral_wsdl_and_calls_a_service_implementing_it(
    partner_keys: dict[str, KeyPairFiles], our_keys: KeyPairFiles
) -> None:
    suds_client = pytest.importorskip("suds.client", reason="suds-community is in the test extra")
    from suds.cache import NoCache

    app = neutral_app(partner_keys, our_keys)
    ours = Signer.from_files(our_keys.key, our_keys.certificate)
    with PartnerSimulator(app) as sim:
        client = suds_client.Client(WSDL.as_uri(), cache=NoCache(), location=sim.url)
        (service,) = client.wsdl.services
        (port,) = service.ports
        assert port.name == "PartnerReceiveSoap11"
        assert [m.name for m in port.methods.values()] == ["ReceiveDocument"]
        header = client.factory.create(f"{{{NS}}}MessageInfo")
        header.MessageId, header.ConversationId, header.Timestamp = "suds-1", "c-suds", "2026-01-01T00:00:00Z"
        client.set_options(soapheaders=header)
        document = etree.tostring(ours.sign(parse_bytes(nz_document()), id_value="doc-suds-1"))
        receipt = client.service.ReceiveDocument(Document=base64.b64encode(document).decode("ascii"))
    assert str(receipt.Status) == "ACK" and str(receipt.RefToMessageId) == "suds-1"
    assert app.stats.as_dict()["acknowledged"] == 1


def test_the_agreement_chooses_the_contract(tmp_path: Path) -> None:
    assert contract_of(agreement()).wsdl == WSDL  # any partner: the neutral contract
    eu = contract_of(agreement().model_copy(update={"partner": "eu"}))
    assert eu.wsdl.name == "partner-eu-1.0.wsdl" and eu.namespace == "urn:mra-exchange:eu:soap:1.0"
    assert contract_of(agreement(soap_wsdl="partner-eu-1.0.wsdl")).wsdl.name == "partner-eu-1.0.wsdl"
    own = tmp_path / "own.wsdl"  # a partner's own WSDL beside the agreements
    own.write_text(WSDL.read_text("utf-8").replace("partner-receive-1.0.xsd", str(XSD)), encoding="utf-8")
    assert contract_of(agreement(soap_wsdl="own.wsdl"), tmp_path).wsdl == own
    with pytest.raises(ConfigError, match=r"soap_wsdl: 'missing\.wsdl'"):
        contract_of(agreement(soap_wsdl="missing.wsdl"), tmp_path)
    with pytest.raises(ConfigError, match=r"no SOAP 1\.1 binding named 'Nope'"):
        contract_of(agreement(soap_binding="Nope"))
