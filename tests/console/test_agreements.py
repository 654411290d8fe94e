"""The agreements page: transports, endpoints, schema versions, certificates and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from exchange.config import load_config
from exchange.console.agreements import agreements_view, certificate_view
from exchange.signing import generate_key_pair

CONFIG = """
[partners.eu]
name = "EU (test)"
format = "adapters.eu:format"
families = ["ccc", "glp", "pt"]
transport = "soap"
[partners.eu.options]
soap_outbound_url = "https://eu.example/mra"
soap_certificate = "eu/signing-cert.pem"
soap_receipt_certificate = "gone.pem"

[partners.kr]
name = "KR (test)"
format = "adapters.kr:format"
families = ["ccc", "pt"]
transport = "amqp"
[partners.kr.scope.ccc]
sectors = ["ee"]
"""


def test_partners_endpoints_schemas_and_certificates(tmp_path: Path) -> None:
    generate_key_pair(tmp_path / "eu", days=10)
    path = tmp_path / "agreements.toml"
    path.write_text(CONFIG, encoding="utf-8")
    view = agreements_view(load_config(path))
    eu, kr = view["partners"]
    assert eu["endpoint"] == "SOAP push to https://eu.example/mra" and eu["families"] == ["ccc", "glp", "pt"]
    assert {(s["family"], s["version"]) for s in eu["schemas"]} >= {
        ("ccc", "1.0"),
        ("glp", "1.0"),
        ("pt", "1.0"),
    }
    signing, receipt = eu["certificates"]
    assert signing["status"] == "expiring" and signing["daysLeft"] in (9, 10)  # warned: < 30 days
    assert signing["subject"] == "CN=mra-exchange development"
    assert receipt["status"] == "error" and "gone.pem" in receipt["path"]
    assert kr["endpoint"].startswith("AMQP vhost mra-kr: exchange kr.inbound")
    assert kr["scope"] == {"ccc": {"sectors": ["ee"]}} and kr["certificates"] == []
    assert view["warningDays"] == 30


def test_schema_versions_of_every_shipped_partner() -> None:
    from exchange.console.agreements import schema_versions

    assert {(s["family"], s["version"]) for s in schema_versions("bri")} == {
        ("ccc", "1.0"),
        ("glp", "1.0"),
        ("pt", "1.0"),
    }  # fmt: skip
    assert [(s["family"], s["version"]) for s in schema_versions("nz")] == [
        ("ccc", "1.0"),
        ("ccc", "1.1"),
        ("ccc", "1.2"),
    ]
    assert schema_versions("nowhere") == []


def test_certificate_status_by_days_left(tmp_path: Path) -> None:
    files = generate_key_pair(tmp_path, days=365)
    now = datetime.now(UTC)
    assert certificate_view(files.certificate, "ours", now)["status"] == "valid"
    assert certificate_view(files.certificate, "ours", now + timedelta(days=340))["status"] == "expiring"
    assert certificate_view(files.certificate, "ours", now + timedelta(days=366))["status"] == "expired"
