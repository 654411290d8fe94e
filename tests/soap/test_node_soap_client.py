"""A third SOAP stack, in another language: node-soap (npm `soap`, pinned in
tests/soap/node/package-lock.json, installed there by .ci/run) loads the WSDL by URL from a
running `exchange run` and calls every operation with NZ's credentials, its own WSSecurity
building the PasswordDigest token, then with wrong ones (wrong secret, unknown user,
PasswordText over plain HTTP), each of which must be the authentication fault."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from exchange.service.store import SoapStore
from exchange.soap.contract import served_schemas
from exchange.soap.loopback import SECRETS
from tests.amqp.isolated import World, domestic_messages, publish_domestic
from tests.soap.running import start_run
from tests.soap.support import nz_document

pytestmark = [pytest.mark.rabbitmq, pytest.mark.slow]

NODE_DIR = Path(__file__).resolve().parent / "node"
OPERATIONS = (
    "SubmitDocument", "VerifyCertificate", "ListPending", "PullDocument", "AcknowledgeDocument",
    "GetDeliveryStatus",
)  # fmt: skip
WAIT_S = 60


def _require_node_soap() -> str:
    node = shutil.which("node")
    if node is not None and (NODE_DIR / "node_modules" / "soap" / "package.json").is_file():
        return node
    missing = "node is not installed" if node is None else f"run `npm ci --prefix {NODE_DIR}`"
    if os.environ.get("CI") == "true":
        pytest.fail(f"node-soap is not available and CI=true: {missing} (.ci/run does)")
    pytest.skip(f"node-soap is not available: {missing}")


def _credentials(username: str, password: str, kind: str = "PasswordDigest") -> dict[str, str]:
    return {"username": username, "password": password, "passwordType": kind}


def _run_partner(node: str, wsdl: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    plan = {"wsdl": wsdl, "service": "ExchangeService", "port": "ExchangeSoap11", "calls": calls}
    out = subprocess.run(
        [node, str(NODE_DIR / "partner.js")], input=json.dumps(plan), capture_output=True, text=True,
        timeout=120, cwd=NODE_DIR,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def _waiting(audit_url: str, count: int) -> list[Any]:
    store = SoapStore(audit_url)
    try:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            pending, _ = store.pending("nz")
            if len(pending) >= count:
                return pending
            time.sleep(0.3)
    finally:
        store.close()
    raise AssertionError(f"no {count} documents waiting for nz within {WAIT_S} s")


def test_node_soap_loads_the_contract_by_url_and_calls_every_operation(world: World) -> None:
    node = _require_node_soap()
    running = start_run(world)
    messages = domestic_messages("node", 2)
    publish_domestic(world.url, messages)
    first, second = sorted(_waiting(world.audit_url, 2), key=lambda e: e.message_id)
    good = _credentials("nz", SECRETS["nz"])
    document = base64.b64encode(nz_document()).decode("ascii")
    params: dict[str, dict[str, Any]] = {
        "ListPending": {},
        "PullDocument": {"MessageId": first.message_id},
        "AcknowledgeDocument": {"MessageId": first.message_id, "Outcome": "OK"},
        "GetDeliveryStatus": {"MessageId": first.message_id},
        "VerifyCertificate": {"CertificateNumber": first.record_id},
        "SubmitDocument": {"MessageId": "nz-node-1", "Document": document},
    }
    wrong = {
        "wrong secret": _credentials("nz", SECRETS["nz"] + "x"),
        "unknown user": _credentials("nobody", SECRETS["nz"]),
        "PasswordText over HTTP": _credentials("nz", SECRETS["nz"], "PasswordText"),
    }
    wrong_params = {
        **params,
        "PullDocument": {"MessageId": second.message_id},
        "AcknowledgeDocument": {"MessageId": second.message_id, "Outcome": "OK"},
        "SubmitDocument": {"MessageId": "nz-node-2", "Document": document},
    }
    calls = [{"operation": op, "args": args, "credentials": good} for op, args in params.items()]
    calls += [
        {"operation": op, "args": wrong_params[op], "credentials": creds}
        for creds in wrong.values()
        for op in OPERATIONS
    ]
    calls.append({"operation": "ListPending", "args": {}, "credentials": good})
    answer = _run_partner(node, running.wsdl, calls)

    fetched = answer["fetched"]
    assert sorted(url.rsplit("/", 1)[1] for url in fetched) == sorted(["v1?wsdl", *served_schemas()])
    assert all(url.startswith(f"{running.base}/soap/") for url in fetched)
    results = answer["results"]
    answered = {r["operation"]: r["result"] for r in results[: len(params)] if r["ok"]}
    assert set(answered) == set(OPERATIONS), [r for r in results[: len(params)] if not r["ok"]]
    pulled = answered["PullDocument"]
    assert hashlib.sha256(base64.b64decode(pulled["Document"])).hexdigest() == first.sha256
    assert answered["AcknowledgeDocument"]["State"] == "ACKNOWLEDGED"
    assert answered["GetDeliveryStatus"]["State"] == "ACKNOWLEDGED"
    assert answered["VerifyCertificate"]["Certificate"]["CertificateNumber"] == first.record_id
    assert answered["SubmitDocument"]["Receipt"]["Status"] == "DELIVERED_DOMESTIC"

    refused = results[len(params) : -1]
    faults = [(r["operation"], r["status"], r["faultcode"], r["code"]) for r in refused]
    expected = [
        (op, 500, "wsse:FailedAuthentication", "NOT_AUTHENTICATED") for _ in wrong for op in OPERATIONS
    ]
    assert faults == expected
    after = results[-1]["result"]["PendingDocument"]  # nothing the wrong callers asked for happened
    pending = after if isinstance(after, list) else [after]
    assert [(p["MessageId"], p["State"]) for p in pending] == [(second.message_id, "PENDING")]

    summary = (
        f"node-soap {answer['soap']}: contract by URL ({len(fetched)} files), {len(answered)} of "
        f"{len(OPERATIONS)} operations answered with correct credentials, {len(faults)} authentication "
        f"faults for {len(wrong)} kinds of wrong credentials"
    )
    print(summary)
    assert len(faults) == len(wrong) * len(OPERATIONS), summary
