"""A real SOAP endpoint per test: the HTTP front on a free loopback port, its own agreements,
audit database and key pairs; zeep as the partners' client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from zeep.wsdl import Document

from exchange.signing import KeyPairFiles, Signer, generate_key_pair
from exchange.soap.contract import client_document
from exchange.soap.loopback import AGREEMENTS, Endpoint, start_endpoint


@pytest.fixture(scope="session")
def our_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPairFiles:
    """The service's receipt-signing pair (made once: RSA key generation is slow-ish)."""
    return generate_key_pair(tmp_path_factory.mktemp("our-keys"), common_name="mra-exchange test")


@pytest.fixture(scope="session")
def partner_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPairFiles]:
    """Document-signing pairs: eu and nz as configured, rogue as nobody's."""
    return {
        name: generate_key_pair(tmp_path_factory.mktemp(f"{name}-keys"), common_name=f"{name} partner test")
        for name in ("eu", "nz", "rogue")
    }


@pytest.fixture(scope="session")
def partner_signers(partner_keys: dict[str, KeyPairFiles]) -> dict[str, Signer]:
    return {name: Signer.from_files(k.key, k.certificate) for name, k in partner_keys.items()}


@pytest.fixture(scope="session")
def wsdl_document() -> Document:
    """The contract, parsed once; each test points a service proxy at its own server."""
    document: Document = client_document()
    return document


EndpointFactory = Callable[..., Endpoint]


@pytest.fixture
def endpoint_factory(
    tmp_path: Path,
    our_keys: KeyPairFiles,
    partner_keys: dict[str, KeyPairFiles],
    wsdl_document: Document,
) -> Iterator[EndpointFactory]:
    started: list[Endpoint] = []

    def start(agreements: str = AGREEMENTS, **kwargs: object) -> Endpoint:
        certificates = {p: partner_keys[p].certificate.read_bytes() for p in ("eu", "nz")}
        endpoint = start_endpoint(
            tmp_path / f"endpoint-{len(started)}", our_keys, certificates=certificates,
            agreements_text=agreements, document=wsdl_document, **kwargs,
        )  # fmt: skip
        started.append(endpoint)
        return endpoint

    yield start
    for endpoint in started:
        endpoint.close()


@pytest.fixture
def endpoint(endpoint_factory: EndpointFactory) -> Endpoint:
    return endpoint_factory()
