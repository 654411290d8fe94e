"""WS-Security on our pushes: the EU partner simulator checks them with zeep's own
implementation (zeep.wsse.signature over python-xmlsec) and xmlsec1 verifies one as sent;
the partner's signed answers are checked by our client against its agreement's certificate."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree

from exchange.signing import KeyPairFiles
from exchange.soap.wss_signature import Policy
from exchange.transports.soap_push.outbound import Outcome
from exchange.transports.soap_push.simulator import PartnerEuApp
from tests.soap.test_outbound_support import DOCUMENT, start_rig
from tests.soap.wss_partner import xmlsec1_verifies

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"


def test_pushes_are_signed_and_the_partner_verifies_them_with_zeep(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """3 pushes: 3 verified by zeep at the partner, 3 signed answers verified by us."""
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"], wss_signature=Policy.REQUIRED, require_wss=True)
    try:
        for i in range(3):
            result = rig.client.send(DOCUMENT, message_id=f"m-{i}", conversation_id="c")
            assert result.outcome is Outcome.ACKNOWLEDGED, result.reason
        assert (rig.sim.stats.wss_verified, rig.sim.stats.wss_refused) == (3, 0)
    finally:
        rig.close()


def _push_as_sent(rig_client: object) -> etree._Element:
    client = rig_client.client  # type: ignore[attr-defined]
    header = {"MessageId": "m-x", "ConversationId": "c", "Timestamp": datetime.now(UTC)}
    message: etree._Element = client.create_message(
        rig_client.service,  # type: ignore[attr-defined]
        "ReceiveDocument",
        Document=rig_client.sign(DOCUMENT),  # type: ignore[attr-defined]
        _soapheaders={"header": header},
    )
    return message


def test_a_push_verifies_with_xmlsec1_and_carries_what_wss4j_expects(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """1 push as it goes on the wire: xmlsec1 verifies it with our certificate; 1 copy with
    the MessageId header's Body-sibling changed still verifies (headers other than the
    Timestamp are not signed) and 1 with the Body changed does not."""
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"])
    try:
        message = _push_as_sent(rig.client)
    finally:
        rig.close()
    security = message.find(f"{{{SOAP11}}}Header/{{{WSSE}}}Security")
    assert security is not None and security.get(f"{{{SOAP11}}}mustUnderstand") == "1"
    assert [etree.QName(c).localname for c in security] == ["Timestamp", "BinarySecurityToken", "Signature"]
    refs = [r.get("URI") for r in security.iterfind(f".//{{{DS}}}Reference")]
    body = message.find(f"{{{SOAP11}}}Body")
    stamp = security.find(f"{{{WSU}}}Timestamp")
    assert body is not None and stamp is not None
    assert refs == [f"#{body.get(f'{{{WSU}}}Id')}", f"#{stamp.get(f'{{{WSU}}}Id')}"]
    data = etree.tostring(message)
    assert xmlsec1_verifies(data, our_keys.certificate, tmp_path)
    assert not xmlsec1_verifies(
        data.replace(b"ReceiveDocument><", b"ReceiveDocument> <", 1), our_keys.certificate, tmp_path
    )
    assert not xmlsec1_verifies(data, partner_keys["rogue"].certificate, tmp_path)


def test_the_partner_refuses_a_push_signed_by_another_key(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    rig = start_rig(
        tmp_path, our_keys, partner_keys["eu"], sender_cert=partner_keys["rogue"], require_wss=True
    )
    try:
        result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
        assert result.outcome is Outcome.FAILED
        assert result.reason is not None and "(SIGNATURE_INVALID)" in result.reason
        assert (rig.sim.stats.wss_verified, rig.sim.stats.wss_refused) == (0, 1)
        assert rig.sim.stats.deliveries == {}  # refused before the document was looked at
    finally:
        rig.close()


def test_off_sends_no_message_signature(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """1 push unsigned to a partner that does not need one (acknowledged), 1 to a partner
    that requires one (refused)."""
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"], wss_signature=Policy.OFF)
    try:
        assert _push_as_sent(rig.client).find(f".//{{{WSSE}}}Security") is None
        assert (
            rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c").outcome is Outcome.ACKNOWLEDGED
        )
        rig.sim.app.require_wss = True
        result = rig.client.send(DOCUMENT, message_id="m-2", conversation_id="c")
        assert result.outcome is Outcome.FAILED and "(SIGNATURE_INVALID)" in (result.reason or "")
    finally:
        rig.close()


def test_an_answer_signed_by_another_key_is_refused(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"], receipt_signer=partner_keys["rogue"])
    try:
        result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
        assert result.outcome is Outcome.FAILED and result.answered
        assert result.reason is not None
        assert result.reason.startswith("the answer's WS-Security signature is refused"), result.reason
        assert "not the partner's certificate" in result.reason
        assert rig.receipts.for_message("eu", "m-1") == []
    finally:
        rig.close()


def test_required_refuses_an_unsigned_answer(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """The partner answers without a message signature: fine when optional, not when required."""

    def unsigned_answers(app: PartnerEuApp) -> None:
        app._answer_signer.sign = lambda envelope: None  # type: ignore[method-assign]

    for policy, outcome in ((Policy.OPTIONAL, Outcome.ACKNOWLEDGED), (Policy.REQUIRED, Outcome.FAILED)):
        (tmp_path / policy).mkdir()
        rig = start_rig(tmp_path / policy, our_keys, partner_keys["eu"], wss_signature=policy,
                        app_hook=unsigned_answers)  # fmt: skip
        try:
            result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
            assert result.outcome is outcome, result.reason
        finally:
            rig.close()
