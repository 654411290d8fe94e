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
    assert eu["endpoint"] == "SOAP push to https://eu.example/mra (partner-eu-1.0.wsdl)" and eu[
        "families"
    ] == ["ccc", "glp", "pt"]
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
        ("ccc", "1.0"), ("ccc", "1.1"),
        ("glp", "1.0"), ("glp", "1.1"),
        ("pt", "1.0"), ("pt", "1.1"),
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


def test_every_shipped_agreement_is_on_the_page_norway_pushed_japan_pulling() -> None:
    """The page lists what the agreements say, whoever they name: none hard-coded."""
    config = load_config()
    view = {p["partner"]: p for p in agreements_view(config)["partners"]}
    assert set(view) == set(config.partners) and {"no", "jp"} <= set(view)
    no, jp = view["no"], view["jp"]
    assert no["transport"] == "soap-push" and "partner-receive-1.0.wsdl" in no["endpoint"]
    assert no["families"] == ["ccc"] and no["scope"] == {"ccc": {"sectors": ["ee"]}}
    assert jp["endpoint"].startswith("SOAP pull") and jp["families"] == ["pt"]
    assert [(s["family"], s["version"]) for s in no["schemas"]] == [("ccc", "1.0")]
    assert [(s["family"], s["version"]) for s in jp["schemas"]] == [("pt", "1.0")]


def test_a_file_partner_shows_its_drop_directory(tmp_path: Path) -> None:
    path = tmp_path / "agreements.toml"
    path.write_text(
        '[partners.zz]\nname = "ZZ"\nformat = "adapters.nz:format"\nfamilies = ["ccc"]\n'
        '[partners.zz.options]\ndrop_directory = "drop/zz"\n'
        '[partners.yy]\nname = "YY"\nformat = "adapters.nz:format"\nfamilies = ["ccc"]\n',
        encoding="utf-8",
    )
    view = {p["partner"]: p for p in agreements_view(load_config(path))["partners"]}
    assert view["zz"]["endpoint"] == "files in drop/zz"
    assert "no drop_directory" in view["yy"]["endpoint"]
