"""Signatures both ways: every document leaves signed with our key (the partner checks it),
and a receipt counts only when the partner's certificate verifies it."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from exchange.signing import KeyPairFiles, has_signature, verify_enveloped
from exchange.soap.wss_signature import Policy
from exchange.transports.soap_push.outbound import Outcome
from exchange.xml.safe import parse_bytes
from tests.soap.test_outbound_support import DOCUMENT, start_rig


def test_documents_leave_signed_with_our_key(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"])
    try:
        signed = rig.client.sign(DOCUMENT, "m-0")
        root = parse_bytes(signed)
        assert has_signature(root)
        verified = verify_enveloped(root, our_keys.certificate.read_bytes())
        unsigned = parse_bytes(DOCUMENT)
        unsigned.set("Id", "doc-m-0")  # referenced by the signature: doc- + the message id
        assert etree.tostring(verified, method="c14n") == etree.tostring(unsigned, method="c14n")
        assert rig.client.sign(signed) == signed  # signed upstream already: sent as is
        assert (
            rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c").outcome is Outcome.ACKNOWLEDGED
        )
    finally:
        rig.close()


def test_partner_rejects_a_document_it_cannot_verify(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """The partner holds another certificate for us: it rejects, with a reason we keep (no
    message signature here: with one, it would refuse the message first, test_wss_outbound)."""
    rig = start_rig(
        tmp_path, our_keys, partner_keys["eu"], sender_cert=partner_keys["rogue"], wss_signature=Policy.OFF
    )
    try:
        result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
        assert result.outcome is Outcome.REJECTED
        assert result.reason is not None and "signature does not verify" in result.reason
        assert [r.status for r in rig.receipts.for_message("eu", "m-1")] == ["REJECT"]
    finally:
        rig.close()


def test_receipt_signed_by_someone_else_is_refused(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    rig = start_rig(  # no message signature: its check would come first (test_wss_outbound)
        tmp_path, our_keys, partner_keys["eu"], receipt_signer=partner_keys["rogue"], wss_signature=Policy.OFF
    )
    try:
        result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
        assert result.outcome is Outcome.FAILED and result.answered
        assert result.reason is not None and result.reason.startswith("receipt signature invalid")
        assert rig.receipts.for_message("eu", "m-1") == []  # nothing unverified is stored
    finally:
        rig.close()


def test_receipt_for_other_bytes_is_refused(
    tmp_path: Path, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """A validly signed receipt whose digest is not of what we sent proves nothing."""
    rig = start_rig(tmp_path, our_keys, partner_keys["eu"])
    try:
        app = rig.sim.app
        make_receipt = app._receipt

        def receipt_of_other(
            mid: str, conv: str, status: str, reason: str | None, warnings: list[str], doc: bytes
        ) -> bytes:
            return make_receipt(mid, conv, status, reason, warnings, doc + b" ")

        app._receipt = receipt_of_other  # type: ignore[method-assign]
        result = rig.client.send(DOCUMENT, message_id="m-1", conversation_id="c")
        assert result.outcome is Outcome.FAILED
        assert result.reason == "the receipt's document digest is not ours"
    finally:
        rig.close()
