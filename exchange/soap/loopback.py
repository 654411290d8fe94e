"""Our SOAP endpoint on a free loopback port, with throw-away agreements, partner secrets
and audit database, and zeep clients playing the partners that call it: what
`exchange bench soap`, the partner simulators and the SOAP tests start.

    endpoint = start_endpoint(folder, our_keys, certificates={"eu": pem, "nz": pem})
    receipt = endpoint.service("nz").SubmitDocument(MessageId="nz-1", Document=document)
    endpoint.close()

Each partner authenticates as in production (WS-Security UsernameToken, PasswordDigest,
secrets in files the agreements name); nothing here is reachable beyond 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zeep
import zeep.wsse.username
from lxml import etree
from zeep.plugins import HistoryPlugin
from zeep.wsdl import Document

from exchange.audit import AuditStore, StoredEntry, open_store
from exchange.config import ExchangeConfig, load_config
from exchange.service.store import SoapStore
from exchange.signing import KeyPairFiles, Signer
from exchange.soap import build_app
from exchange.soap.app import SoapApp
from exchange.soap.contract import BINDINGS, client_document
from exchange.soap.handoff import Handoff, MemoryHandoff
from exchange.soap.server import RunningServer, TlsSettings, serve
from exchange.soap.settings import SoapSettings

SECRETS = {"eu": "eu-shared-secret-0123456789", "nz": "nz-shared-secret-0123456789"}
"""Throw-away shared secrets, written to <partner>.secret beside the agreements."""
USERNAMES = {"eu": "eu-mra", "nz": "nz"}

AGREEMENTS = """
source = "adapters.domestic:source"

[partners.eu]
name = "European Union (test)"
format = "adapters.eu:format"
families = ["ccc", "glp", "pt"]
transport = "soap"
[partners.eu.options]
soap_username = "eu-mra"
soap_secret_file = "eu.secret"
soap_certificate = "eu-cert.pem"

[partners.nz]
name = "New Zealand (test)"
format = "adapters.nz:format"
families = ["ccc"]
transport = "soap"
[partners.nz.scope.ccc]
sectors = ["ee"]
[partners.nz.options]
delivery = "pull"
soap_secret_file = "nz.secret"
soap_certificate = "nz-cert.pem"
"""
"""eu and nz over SOAP; soap_certificate names <partner>-cert.pem (see `start_endpoint`)."""


def agreements(**extra_options: Mapping[str, object]) -> str:
    """AGREEMENTS with more options for some partners, e.g. nz={"soap_require_signature": True}."""
    text = AGREEMENTS
    for partner, options in extra_options.items():
        lines = "".join(f"{k} = {_toml(v)}\n" for k, v in options.items())
        marker = f"[partners.{partner}.options]\n"
        text = text.replace(marker, marker + lines)
    return text


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f'"{value}"' if isinstance(value, str) else str(value)


@dataclass
class Endpoint:
    folder: Path
    config: ExchangeConfig
    server: RunningServer
    app: SoapApp
    audit: AuditStore
    store: SoapStore
    handoff: Handoff
    our_cert: bytes
    document: Document
    audit_url: str
    history: HistoryPlugin = field(default_factory=HistoryPlugin)
    _plain: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"{self.server.base_url}{self.app.settings.path}"

    def service(
        self,
        partner: str = "nz",
        *,
        version: str = "1.1",
        secret: str | None = None,
        username: str | None = None,
        wsse: Any = None,
        transport: zeep.Transport | None = None,
        plugins: list[Any] | None = None,
    ) -> Any:
        """A zeep service proxy for one partner, PasswordDigest by default; what it sends and
        receives last is in `history` unless other `plugins` are given."""
        z: Any = zeep  # untyped library
        if wsse is None:
            token = z.wsse.username.UsernameToken
            wsse = token(username or USERNAMES[partner], secret or SECRETS[partner], use_digest=True)
        kwargs: dict[str, Any] = {"wsse": wsse, "plugins": [self.history] if plugins is None else plugins}
        if transport is not None:
            kwargs["transport"] = transport
        return z.Client(self.document, **kwargs).create_service(BINDINGS[version], self.url)

    def raw_request(self, partner: str, operation: str, version: str = "1.1", **params: Any) -> bytes:
        """The envelope zeep would send (WS-Security included, a fresh nonce each time), for
        bare posts, replays and edits."""
        service = self._plain.get((partner, version))
        if service is None:
            service = self._plain[partner, version] = self.service(partner, version=version, plugins=[])
        return etree.tostring(service._client.create_message(service, operation, **params))

    def trail(self, message_id: str) -> list[str]:
        return [str(e.event) for e in self.audit.trace(message_id) if e.message_id == message_id]

    def rejections(self) -> list[StoredEntry]:
        return [e for e in self.audit.export(None, None) if str(e.event) == "REJECTED"]

    def last_rejection(self) -> StoredEntry:
        found = self.rejections()
        assert found, "nothing was audited as REJECTED"
        return found[-1]

    def close(self) -> None:
        self.server.stop()
        self.audit.close()
        self.store.close()


def start_endpoint(
    folder: Path,
    our_keys: KeyPairFiles,
    *,
    certificates: Mapping[str, bytes],
    agreements_text: str = AGREEMENTS,
    document: Document | None = None,
    audit_url: str | None = None,
    handoff: Handoff | None = None,
    settings: SoapSettings | None = None,
    tls: TlsSettings | None = None,
    threads: int = 4,
) -> Endpoint:
    """Write the agreements, the partners' secrets and `certificates` (PEM, as
    <partner>-cert.pem) into `folder`, then serve the endpoint on a free loopback port.
    The audit database defaults to `folder`/audit.db; domestic handoff to memory."""
    folder.mkdir(parents=True, exist_ok=True)
    for partner, secret in SECRETS.items():
        (folder / f"{partner}.secret").write_text(secret + "\n", encoding="utf-8")
    for partner, pem in certificates.items():
        (folder / f"{partner}-cert.pem").write_bytes(pem)
    path = folder / "agreements.toml"
    path.write_text(agreements_text, encoding="utf-8")
    config = load_config(path)
    url = audit_url or f"sqlite:///{folder / 'audit.db'}"
    audit, store = open_store(url), SoapStore(url)
    signer = Signer.from_files(our_keys.key, our_keys.certificate)
    handoff = handoff if handoff is not None else MemoryHandoff()
    try:
        app = build_app(config, audit=audit, store=store, handoff=handoff, signer=signer, settings=settings)
        server = serve(app, "127.0.0.1", 0, tls, threads=threads)
        app.listening_at(server.base_url)
    except BaseException:
        audit.close()
        store.close()
        raise
    return Endpoint(
        folder, config, server, app, audit, store, handoff, signer.cert_pem,
        document or client_document(), url,
    )  # fmt: skip
