"""A second SOAP client that is not zeep: suds-community, as a partner's developer uses it,
loads the WSDL by URL from a running `exchange run` (every import fetched from the service,
no cache, no local copy) and calls every operation of the contract, once with NZ's correct
credentials and then with wrong ones, which must all give the authentication fault.

PasswordDigest is built the way a suds user builds it: suds' own wsse.UsernameToken with a
nonce, a Created time and the digest set by hand (suds computes only PasswordText); suds'
plain PasswordText token is tried too and refused, since the service is plain HTTP here.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import pytest

from exchange.soap.contract import served_schemas
from exchange.soap.loopback import SECRETS
from tests.amqp.isolated import World, domestic_messages, publish_domestic
from tests.soap.running import Running, start_run
from tests.soap.support import nz_document

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

suds_client = pytest.importorskip("suds.client", reason="suds-community is in the test extra")
from suds import WebFault  # noqa: E402
from suds.cache import NoCache  # noqa: E402
from suds.transport.http import HttpTransport  # noqa: E402
from suds.wsse import Security, UsernameToken  # noqa: E402

OPERATIONS = (
    "SubmitDocument", "VerifyCertificate", "ListPending", "PullDocument", "AcknowledgeDocument",
    "GetDeliveryStatus",
)  # fmt: skip
WAIT_S = 60


class RecordingTransport(HttpTransport):  # type: ignore[misc]
    """suds' own HTTP transport, noting every URL it fetches (the contract's files)."""

    def __init__(self) -> None:
        super().__init__()
        self.fetched: list[str] = []

    def open(self, request: Any) -> Any:
        self.fetched.append(request.url)
        return super().open(request)


def digest_security(username: str, secret: str) -> Security:
    """A fresh UsernameToken with PasswordDigest = Base64(SHA-1(nonce + created + secret))."""
    token = UsernameToken(username, secret)
    nonce = secrets.token_bytes(16)
    token.setnonce(base64.b64encode(nonce).decode("ascii"))
    token.setnonceencoding(True)
    token.setcreated()
    created = str(token.xml().getChild("Created").getText())  # the text suds will send
    digest = hashlib.sha1(nonce + created.encode("utf-8") + secret.encode("utf-8")).digest()
    token.setpassworddigest(base64.b64encode(digest).decode("ascii"))
    security = Security()
    security.tokens.append(token)
    return security


def text_security(username: str, password: str) -> Security:
    """suds' built-in UsernameToken: PasswordText."""
    security = Security()
    security.tokens.append(UsernameToken(username, password))
    return security


class Partner:
    """suds as NZ would configure it; each call gets a fresh token (nonces are single-use)."""

    def __init__(self, running: Running):
        self.transport = RecordingTransport()
        self.client = suds_client.Client(running.wsdl, cache=NoCache(), transport=self.transport)
        self.client.set_options(port="ExchangeSoap11")  # suds speaks SOAP 1.1
        self.called: list[str] = []
        self.faults: list[tuple[str, str, str]] = []

    def call(self, operation: str, security: Security, **params: Any) -> Any:
        self.client.set_options(wsse=security)
        self.called.append(operation)
        return getattr(self.client.service, operation)(**params)

    def refused(self, operation: str, security: Security, **params: Any) -> tuple[str, str]:
        try:
            answer = self.call(operation, security, **params)
        except WebFault as exc:
            fault = exc.fault
            code = str(fault.detail.FaultDetail.Code)
            self.faults.append((operation, str(fault.faultcode), code))
            return str(fault.faultcode), code
        raise AssertionError(f"{operation} answered without a fault: {answer}")


def _first_pending(nz: Partner) -> list[Any]:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        pending = nz.call("ListPending", digest_security("nz", SECRETS["nz"]))
        documents = list(getattr(pending, "PendingDocument", []) or [])
        if len(documents) >= 2:
            return documents
        time.sleep(0.5)
    raise AssertionError(f"no two documents waiting for nz within {WAIT_S} s")


def test_suds_loads_the_contract_by_url_and_calls_every_operation(world: World) -> None:
    running = start_run(world)
    messages = domestic_messages("suds", 2)
    publish_domestic(world.url, messages)

    nz = Partner(running)
    fetched = {url.rsplit("/", 1)[1] for url in nz.transport.fetched}
    assert fetched == {"v1?wsdl", *served_schemas()}, nz.transport.fetched
    assert all(url.startswith(running.base + "/soap/") for url in nz.transport.fetched)
    good = lambda: digest_security("nz", SECRETS["nz"])  # noqa: E731

    # -- correct credentials: every operation answers --------------------------------------
    documents = _first_pending(nz)
    assert {str(d.MessageId) for d in documents} == {mid for mid, _ in messages}
    first = str(documents[0].MessageId)
    pulled = nz.call("PullDocument", good(), MessageId=first)
    document = base64.b64decode(str(pulled.Document))
    assert hashlib.sha256(document).hexdigest() == str(pulled.DocumentSha256)
    assert b"urn:mra-exchange:nz:ccc:1.0" in document
    acknowledged = nz.call("AcknowledgeDocument", good(), MessageId=first, Outcome="OK")
    assert str(acknowledged.State) == "ACKNOWLEDGED"
    status = nz.call("GetDeliveryStatus", good(), MessageId=first)
    assert str(status.State) == "ACKNOWLEDGED"
    number = str(documents[0].RecordId)
    certificate = nz.call("VerifyCertificate", good(), CertificateNumber=number)
    assert str(certificate.CertificateNumber) == number
    assert str(certificate.Status) in ("VALID", "EXPIRED")  # the sample's expiry date meets the calendar
    submitted = nz.call(
        "SubmitDocument", good(), MessageId="nz-suds-1",
        Document=base64.b64encode(nz_document()).decode("ascii"),
    )  # fmt: skip
    receipt = submitted  # suds unwraps a response of one element: the signed Receipt
    assert (str(receipt.PartnerMessageId), str(receipt.Status)) == ("nz-suds-1", "DELIVERED_DOMESTIC")
    assert set(nz.called) == set(OPERATIONS), nz.called
    answered = len(nz.called)

    # -- wrong credentials: every operation refuses, with the authentication fault ---------
    params: dict[str, dict[str, Any]] = {
        "SubmitDocument": {"MessageId": "nz-suds-2", "Document": base64.b64encode(nz_document()).decode()},
        "VerifyCertificate": {"CertificateNumber": str(documents[1].RecordId)},
        "ListPending": {},
        "PullDocument": {"MessageId": str(documents[1].MessageId)},
        "AcknowledgeDocument": {"MessageId": str(documents[1].MessageId), "Outcome": "OK"},
        "GetDeliveryStatus": {"MessageId": first},
    }
    wrong = {
        "wrong secret": lambda: digest_security("nz", SECRETS["nz"] + "x"),
        "unknown user": lambda: digest_security("nobody", SECRETS["nz"]),
        "PasswordText over HTTP": lambda: text_security("nz", SECRETS["nz"]),
    }
    for make in wrong.values():
        for operation in OPERATIONS:
            assert nz.refused(operation, make(), **params[operation]) == (
                "wsse:FailedAuthentication", "NOT_AUTHENTICATED",
            ), operation  # fmt: skip
    # Nothing the wrong callers asked for happened.
    waiting = nz.call("ListPending", good())
    assert [str(d.MessageId) for d in waiting.PendingDocument] == [str(documents[1].MessageId)]
    assert str(waiting.PendingDocument[0].State) == "PENDING"

    summary = (
        f"suds {suds_client.suds.__version__}: contract by URL ({len(nz.transport.fetched)} files), "
        f"{len(OPERATIONS)} operations, {answered} calls answered with correct credentials, "
        f"{len(nz.faults)} authentication faults for {len(wrong)} kinds of wrong credentials"
    )
    print(summary)
    assert len(nz.faults) == len(wrong) * len(OPERATIONS), summary
