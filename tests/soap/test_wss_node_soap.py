"""A partner signing with another stack in another language: node-soap's WSSecurityCert
(xml-crypto, not xmlsec) with its UsernameToken, loading the WSDL (WS-SecurityPolicy in
it) by URL from our endpoint; accepted when signed with the partner's key, refused with
another key, when the agreement requires message signatures."""

from __future__ import annotations

import base64
import json
import subprocess
from typing import Any

from exchange.signing import KeyPairFiles
from tests.soap.conftest import EndpointFactory
from tests.soap.support import SECRETS, USERNAMES, agreements, nz_document
from tests.soap.test_node_soap_client import NODE_DIR, _require_node_soap
from tests.soap.test_wss_inbound import received


def _call(mid: str, keys: KeyPairFiles) -> dict[str, Any]:
    return {
        "operation": "SubmitDocument",
        "args": {"MessageId": mid, "Document": base64.b64encode(nz_document()).decode()},
        "username": USERNAMES["nz"],
        "password": SECRETS["nz"],
        "key": str(keys.key),
        "cert": str(keys.certificate),
    }


def test_node_soap_signed_requests_are_verified(
    endpoint_factory: EndpointFactory, partner_keys: dict[str, KeyPairFiles]
) -> None:
    """3 calls: 2 signed with NZ's key accepted, 1 signed with another key refused."""
    node = _require_node_soap()
    endpoint = endpoint_factory(agreements(nz={"soap_wss_signature": "required"}))
    calls = [_call("nz-node-1", partner_keys["nz"]), _call("nz-node-2", partner_keys["nz"]),
             _call("nz-node-3", partner_keys["rogue"])]  # fmt: skip
    plan = {"wsdl": endpoint.url + "?wsdl", "service": "ExchangeService", "port": "ExchangeSoap11",
            "calls": calls}  # fmt: skip
    out = subprocess.run(
        [node, str(NODE_DIR / "signed_partner.js")], input=json.dumps(plan), capture_output=True, text=True,
        timeout=120, cwd=NODE_DIR,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)["results"]
    first, second, rogue = results
    assert first["ok"] and second["ok"], (first, second)
    assert "BinarySecurityToken" in first["sent"] and "Timestamp" in first["sent"]
    assert "DELIVERED_DOMESTIC" in json.dumps(first["result"]), first["result"]
    assert not rogue["ok"] and rogue["code"] == "SIGNATURE_INVALID", rogue
    assert rogue["faultcode"] == "wsse:FailedCheck"
    assert received(endpoint) == 2  # the two signed with NZ's key
    assert "not the partner's certificate" in endpoint.last_rejection().details["wss"]
