"""Tried as NZ would: `exchange run` (keys configured, as the README says) moves NZ
documents into the pull outbox; each is pulled over raw HTTP with PullDocument and,
straight from the response, checked with the tools NZ would use, none of them ours:
`xmllint --schema schemas/nz/ccc-1.2.xsd`, xmlschema, and `xmlsec1 --verify
--pubkey-cert-pem <our cert> --id-attr:Id urn:mra-exchange:nz:ccc:1.0:ProductCertificate`
(the commands docs/signatures.md gives partners)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from exchange.service.store import SoapStore
from exchange.signing import ENV_CERT, ENV_KEY, KeyPairFiles
from exchange.soap.loopback import start_endpoint
from exchange.xml.safe import parse_bytes
from tests.amqp.isolated import World, domestic_messages, publish_domestic
from tests.interop.tools import ROOT, SCHEMAS, verified, xmllint_valid, xmlschema_valid, xmlsec1_verify
from tests.soap.support import MRA, post
from tests.soap.test_pull import NZ_ONLY

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]


def test_a_document_pulled_by_nz_passes_xmllint_xmlschema_and_xmlsec1(
    world: World, our_keys: KeyPairFiles, partner_keys: dict[str, KeyPairFiles], tmp_path: Path
) -> None:
    config = world.root / "nz.toml"
    config.write_text(NZ_ONLY, encoding="utf-8")
    signing = {ENV_KEY: str(our_keys.key), ENV_CERT: str(our_keys.certificate)}
    world.start_service(env={"EXCHANGE_CONFIG": str(config), **signing})
    lines = (ROOT / "samples" / "ccc.jsonl").read_text("utf-8").splitlines()
    messages = [(f"sample-{n}", json.dumps(json.loads(line)).encode()) for n, line in enumerate(lines)]
    messages += domestic_messages("pulled", 5)
    publish_domestic(world.url, messages)
    store = SoapStore(world.audit_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(store.pending("nz", limit=100)[0]) < len(messages):
            time.sleep(0.25)
        pending = store.pending("nz", limit=100)[0]
    finally:
        store.close()
    assert {e.message_id for e in pending} == {mid for mid, _ in messages}

    certificates = {p: partner_keys[p].certificate.read_bytes() for p in ("eu", "nz")}
    endpoint = start_endpoint(
        tmp_path / "endpoint", our_keys, certificates=certificates, audit_url=world.audit_url
    )
    pulled: list[Path] = []
    try:
        for mid, _ in messages:
            response = post(endpoint.url, endpoint.raw_request("nz", "PullDocument", MessageId=mid))
            assert response.status == 200, response.body[:500]
            document = base64.b64decode(parse_bytes(response.body).findtext(f".//{{{MRA}}}Document") or "")
            path = tmp_path / f"{mid}.xml"
            path.write_bytes(document)  # the bytes NZ holds
            pulled.append(path)
    finally:
        endpoint.close()

    schema = SCHEMAS / "nz" / "ccc-1.2.xsd"
    lint, library = xmllint_valid(schema, pulled), xmlschema_valid(schema, pulled)
    root = "urn:mra-exchange:nz:ccc:1.0:ProductCertificate"
    signatures = {p: xmlsec1_verify(p, our_keys.certificate, root) for p in pulled}
    for path in pulled:
        assert lint[path], f"xmllint refuses {path.name}"
        assert library[path] is None, f"xmlschema refuses {path.name}: {library[path]}"
        assert verified(signatures[path]), f"{path.name}: {signatures[path].output}"
    counts = {
        "pulled": len(pulled),
        "xmllint valid": sum(lint.values()),
        "xmlschema valid": sum(v is None for v in library.values()),
        "xmlsec1 verified": sum(verified(r) for r in signatures.values()),
    }
    print(f"\npulled by NZ: {counts}")
    assert set(counts.values()) == {len(messages)} and len(messages) == 8
