"""The pieces alone: keys from configuration, did:web, the bitstring, the HTTP app, the
verifier's fetch policy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwcrypto import jwk, jws

from exchange.credentials import bitstring
from exchange.credentials.did import Issuer, did_document, did_document_url, did_web_for
from exchange.credentials.jws import CredentialInvalid, sign, verify
from exchange.credentials.keys import ENV_CREDENTIAL_KEY, ENV_SIGNING_KEY, CredentialKey
from exchange.credentials.standing import Standing
from exchange.credentials.status_store import StatusRequest, StatusStore
from exchange.credentials.verify import Verifier
from exchange.credentials.web import CredentialsApp
from exchange.errors import ConfigError
from tests.credentials.helpers import ISSUER, make_key


def _pem(tmp: Path, name: str, key: Any) -> Path:
    path = tmp / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def test_keys_come_from_configuration(tmp_path: Path) -> None:
    ec_key = _pem(tmp_path, "ec.pem", ec.generate_private_key(ec.SECP256R1()))
    rsa_key = _pem(tmp_path, "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    ed_key = _pem(tmp_path, "ed.pem", ed25519.Ed25519PrivateKey.generate())
    p384 = _pem(tmp_path, "p384.pem", ec.generate_private_key(ec.SECP384R1()))
    assert CredentialKey.from_env({}) is None
    assert CredentialKey.from_env({ENV_SIGNING_KEY: str(rsa_key)}) is None  # XML's RSA key: not for JWS
    from_signing = CredentialKey.from_env({ENV_SIGNING_KEY: str(ec_key)})
    assert from_signing is not None and from_signing.alg == "ES256"
    ed = CredentialKey.from_env({ENV_CREDENTIAL_KEY: str(ed_key), ENV_SIGNING_KEY: str(ec_key)})
    assert ed is not None and ed.alg == "EdDSA" and ed.public_jwk()["crv"] == "Ed25519"
    with pytest.raises(ConfigError, match="P-256"):
        CredentialKey.from_env({ENV_CREDENTIAL_KEY: str(p384)})
    with pytest.raises(ConfigError, match="EC P-256"):
        CredentialKey.from_env({ENV_CREDENTIAL_KEY: str(rsa_key)})


def test_an_eddsa_credential_verifies_with_jwcrypto(tmp_path: Path) -> None:
    key = CredentialKey.from_file(_pem(tmp_path, "ed.pem", ed25519.Ed25519PrivateKey.generate()))
    doc = did_document(ISSUER, key)
    token = sign(b'{"id":"x"}', key, ISSUER.kid(key))
    checker = jws.JWS()
    checker.deserialize(token)
    checker.verify(jwk.JWK(**doc["verificationMethod"][0]["publicKeyJwk"]), alg="EdDSA")
    assert checker.jose_header["alg"] == "EdDSA"
    assert verify(token, doc)[1] == {"id": "x"}


def test_verify_refuses_other_keys_and_headers(tmp_path: Path) -> None:
    key, other = make_key(tmp_path / "a"), make_key(tmp_path / "b")
    doc = did_document(ISSUER, key)
    with pytest.raises(CredentialInvalid, match="not an assertion method"):
        verify(sign(b"{}", other, ISSUER.kid(other)), doc)
    with pytest.raises(CredentialInvalid, match="does not verify"):
        verify(sign(b"{}", other, ISSUER.kid(key)), doc)  # claims our kid, signed by another key
    with pytest.raises(CredentialInvalid, match="is not an assertion method"):
        verify(sign(b"{}", key, ISSUER.kid(key)), {**doc, "assertionMethod": []})
    with pytest.raises(CredentialInvalid, match="DID document is"):
        verify(sign(b"{}", key, "did:web:elsewhere#" + key.key_id), doc)
    with pytest.raises(CredentialInvalid, match="not a compact JWS"):
        verify("a.b", doc)


def test_did_web() -> None:
    assert did_web_for("http://localhost:8080") == "did:web:localhost%3A8080"
    assert did_web_for("https://cnca.example/bri/") == "did:web:cnca.example:bri"
    assert did_document_url("did:web:localhost%3A8080") == "http://localhost:8080/.well-known/did.json"
    assert did_document_url("did:web:cnca.example:bri") == "https://cnca.example/bri/did.json"
    assert Issuer.from_env({"EXCHANGE_PUBLIC_URL": "https://cnca.example/"}).did == "did:web:cnca.example"
    with pytest.raises(ConfigError, match="not a did:web"):
        Issuer.from_env({"EXCHANGE_ISSUER_DID": "did:key:z6Mk"})
    with pytest.raises(ConfigError, match="not an http"):
        Issuer.from_env({"EXCHANGE_PUBLIC_URL": "ftp://x"})


def test_bitstring_order_and_size() -> None:
    bits = bitstring.empty()
    assert len(bits) * 8 == bitstring.SIZE == 131_072
    assert bitstring.set_bit(bits, 0, True) and not bitstring.set_bit(bits, 0, True)
    bitstring.set_bit(bits, 9, True)
    assert bits[0] == 0b1000_0000 and bits[1] == 0b0100_0000  # index 0 is the left-most bit
    assert bitstring.decode(bitstring.encode(bits)) == bytes(bits)
    assert len({bitstring.scrambled(i) for i in range(bitstring.SIZE)}) == bitstring.SIZE  # a bijection
    with pytest.raises(ValueError, match="larger"):
        bitstring.decode(bitstring.encode(bytes(64 * bitstring.BYTES)))


def _get(app: CredentialsApp, path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": method}, start))
    return seen["status"], seen["headers"], body


def test_the_http_app_serves_the_did_document_and_published_lists(tmp_path: Path) -> None:
    key = make_key(tmp_path)
    store = StatusStore(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        app = CredentialsApp(ISSUER, key, store)
        status, headers, body = _get(app, "/.well-known/did.json")
        assert status == "200 OK" and json.loads(body) == did_document(ISSUER, key)
        assert _get(app, "/status/suspension/1")[0] == "404 Not Found"  # nothing published yet
        store.place([StatusRequest("id-1", "ccc:A", Standing.SUSPENDED)])
        for item in store.unpublished():
            store.publish(item, json.dumps({"list": item.purpose}), f"h.{item.purpose}.s")
        status, headers, body = _get(app, "/status/suspension/1")
        assert (status, headers["Content-Type"], body) == ("200 OK", "application/vc+jwt", b"h.suspension.s")
        assert json.loads(_get(app, "/status/revocation/1.json")[2]) == {"list": "revocation"}
        assert _get(app, "/status/other/1")[0] == "404 Not Found"
        assert _get(app, "/status/suspension/../../x")[0] == "404 Not Found"
        assert _get(app, "/status/suspension/1", "POST")[0] == "405 Method Not Allowed"
        assert _get(CredentialsApp(ISSUER, None, store), "/.well-known/did.json")[0] == "404 Not Found"
    finally:
        store.close()


def test_under_a_public_url_with_a_path_the_app_serves_where_the_urls_point(tmp_path: Path) -> None:
    """EXCHANGE_PUBLIC_URL https://example.gov.cn/mra: did:web:example.gov.cn:mra resolves to
    /mra/did.json, the lists are <url>/status/...; the root paths are not ours then."""
    key = make_key(tmp_path)
    store = StatusStore(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        issuer = Issuer.from_env({"EXCHANGE_PUBLIC_URL": "https://example.gov.cn/mra/"})
        assert issuer.did == "did:web:example.gov.cn:mra"
        assert issuer.status_list_url("revocation", 1) == "https://example.gov.cn/mra/status/revocation/1"
        app = CredentialsApp(issuer, key, store)
        store.place([StatusRequest("id-1", "ccc:A", Standing.SUSPENDED)])
        for item in store.unpublished():
            store.publish(item, json.dumps({"list": item.purpose}), f"h.{item.purpose}.s")
        assert app.handles("/mra/did.json") and app.handles("/mra/status/revocation/1")
        assert not app.handles("/.well-known/did.json") and not app.handles("/status/revocation/1")
        assert json.loads(_get(app, "/mra/did.json")[2])["id"] == issuer.did
        assert _get(app, "/mra/status/suspension/1")[2] == b"h.suspension.s"
        assert _get(app, "/mra/status/suspension/../../x")[0] == "404 Not Found"
    finally:
        store.close()


def test_the_verifier_fetches_only_from_allowed_hosts() -> None:
    quiet = Verifier({})
    with pytest.raises(CredentialInvalid, match="host not allowed"):
        quiet.get("http://127.0.0.1:9/x")  # no --fetch: nothing is fetched, not even loopback
    fetching = Verifier({}, fetch=True, allowed_hosts=frozenset({"cnca.example"}))
    with pytest.raises(CredentialInvalid, match="host not allowed"):
        fetching.get("https://elsewhere.example/.well-known/did.json")
    with pytest.raises(CredentialInvalid, match="https only"):
        fetching.get("http://cnca.example/.well-known/did.json")
    with pytest.raises(CredentialInvalid, match="cannot fetch"):
        fetching.get("http://127.0.0.1:9/.well-known/did.json")  # loopback: allowed, nobody there


def test_feed_tail_shows_a_jws_payload_and_its_properties(tmp_path: Path) -> None:
    from pika.spec import BasicProperties

    from exchange.service.ops.tail import feed_record

    key = make_key(tmp_path)
    token = sign(b'{"id":"urn:uuid:x"}', key, ISSUER.kid(key))
    props = BasicProperties(
        message_id="urn:uuid:x",
        content_type="application/vc+jwt",
        timestamp=1_700_000_000,
        headers={"record-id": "R", "certificate": "ccc:R"},
    )
    line = feed_record(4, props, token.encode())
    assert line["credential"] == {"id": "urn:uuid:x"} and line["jwt"] == token
    assert (line["offset"], line["messageId"], line["certificate"], line["timestamp"]) == (
        4,
        "urn:uuid:x",
        "ccc:R",
        1_700_000_000,
    )
