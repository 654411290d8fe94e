"""The agreements page: per partner, how we exchange (transport, endpoint, families, schema
versions) and the certificates involved, with their expiry (warned 30 days ahead)."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509

from exchange.config import Agreement, ExchangeConfig
from exchange.registry import transport_for
from exchange.resources import schema_path
from exchange.signing import ENV_CERT

EXPIRY_WARNING = timedelta(days=30)
_SCHEMA = re.compile(r"^(?P<family>[a-z]+)(?:-[a-z]+)*-(?P<version>\d+(?:\.\d+)*)\.(?P<ext>xsd|json)$")
_CERT_OPTIONS = {
    "soap_certificate": "partner's signing certificate",
    "soap_receipt_certificate": "partner's receipt certificate",
    "soap_signing_cert": "our signing certificate (this agreement)",
}


def agreements_view(config: ExchangeConfig, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    base = config.path.parent if config.path else None
    partners = [_partner(a, base, now) for _, a in sorted(config.partners.items())]
    ours = os.environ.get(ENV_CERT)
    return {
        "partners": partners,
        "ourCertificate": certificate_view(Path(ours), "our signing certificate", now) if ours else None,
        "warningDays": EXPIRY_WARNING.days,
        "configPath": str(config.path) if config.path else None,
    }


def _partner(a: Agreement, base: Path | None, now: datetime) -> dict[str, Any]:
    certs = []
    for option, label in _CERT_OPTIONS.items():
        value = a.options.get(option)
        if value:
            path = Path(str(value))
            certs.append(
                certificate_view(path if path.is_absolute() or base is None else base / path, label, now)
            )
    return {
        "partner": a.partner,
        "name": a.name,
        "transport": a.transport,
        "endpoint": endpoint(a),
        "families": sorted(str(f) for f in a.families),
        "scope": {str(k): {n: sorted(v) for n, v in s.model_dump().items() if v} for k, s in a.scope.items()},
        "publicOnly": a.public_only,
        "retrySeconds": list(a.retry_seconds),
        "schemas": schema_versions(a.partner),
        "certificates": certs,
    }


def endpoint(a: Agreement) -> str:
    """Said by the agreement's transport: the console knows none of them."""
    return transport_for(a).describe(a)


def schema_versions(partner: str) -> list[dict[str, str]]:
    folder = schema_path(partner)
    if not folder.is_dir():
        return []
    found = []
    for p in sorted(folder.iterdir()):
        m = _SCHEMA.match(p.name)
        if m:
            found.append({"family": m["family"], "version": m["version"], "file": p.name})
    return found


def certificate_view(path: Path, label: str, now: datetime) -> dict[str, Any]:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return {"label": label, "path": str(path), "error": f"{type(exc).__name__}: {exc}", "status": "error"}
    expires = cert.not_valid_after_utc
    left = expires - now
    status = "expired" if left <= timedelta(0) else "expiring" if left < EXPIRY_WARNING else "valid"
    return {
        "label": label,
        "path": str(path),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "notBefore": cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "notAfter": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "daysLeft": left.days,
        "status": status,
    }
