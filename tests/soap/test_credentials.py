"""Per-partner SOAP credentials from the agreements' options: secrets from the
environment or files (never the agreements file), hashes, certificates, mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import load_config
from exchange.errors import ConfigError
from exchange.signing import KeyPairFiles
from exchange.soap.credentials import check_password, hash_password, load_credentials
from tests.soap.support import agreements


def _config(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "agreements.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def files(tmp_path: Path, partner_keys: dict[str, KeyPairFiles]) -> Path:
    (tmp_path / "eu.secret").write_text("eu-shared-secret-0123456789\n")
    (tmp_path / "nz.secret").write_text("nz-shared-secret-0123456789")
    for p in ("eu", "nz"):
        (tmp_path / f"{p}-cert.pem").write_bytes(partner_keys[p].certificate.read_bytes())
    return tmp_path


def test_credentials_come_from_files_relative_to_the_agreements(files: Path) -> None:
    creds = load_credentials(_config(files, agreements()), env={})
    assert sorted(creds) == ["eu-mra", "nz"]
    assert creds["eu-mra"].partner == "eu" and creds["eu-mra"].secret == b"eu-shared-secret-0123456789"
    assert creds["nz"].certificate is not None and creds["nz"].certificate.startswith(
        b"-----BEGIN CERTIFICATE"
    )
    assert "secret" not in repr(creds["nz"]).lower().replace("partnercredential", "")


def test_a_secret_from_the_environment(files: Path) -> None:
    text = agreements().replace('soap_secret_file = "nz.secret"', 'soap_secret_env = "NZ_SOAP_SECRET"')
    creds = load_credentials(_config(files, text), env={"NZ_SOAP_SECRET": "from-the-environment-123"})
    assert creds["nz"].secret == b"from-the-environment-123"
    with pytest.raises(ConfigError, match="NZ_SOAP_SECRET, which is not set"):
        load_credentials(_config(files, text), env={})


def test_a_password_hash_alone_is_enough(files: Path) -> None:
    text = agreements().replace(
        'soap_secret_file = "nz.secret"', f'soap_password_hash = "{hash_password("x" * 12)}"'
    )
    creds = load_credentials(_config(files, text), env={})
    assert creds["nz"].secret is None and creds["nz"].password_hash is not None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('soap_username = "eu-mra"', 'soap_username = "nz"'), "given to both"),
        (('soap_secret_file = "nz.secret"', 'soap_secret_file = "missing.secret"'), "soap_secret_file"),
        (('soap_secret_file = "nz.secret"', 'soap_password_hash = "md5$abc"'), "not a scrypt hash"),
        (('soap_certificate = "nz-cert.pem"', 'soap_certificate = "nz.secret"'), "not a PEM certificate"),
        (('soap_certificate = "nz-cert.pem"', "soap_require_signature = true"), "needs soap_certificate"),
        (('soap_certificate = "nz-cert.pem"', 'soap_wss_signature = "required"'), "needs the partner's"),
        (('soap_certificate = "nz-cert.pem"', 'soap_wss_signature = "optional"'), "needs the partner's"),
        (
            ("[partners.nz.options]", '[partners.nz.options]\nsoap_wss_signature = "yes"'),
            "one of off, optional",
        ),
    ],
)
def test_configuration_mistakes_are_named(files: Path, edit: tuple[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_credentials(_config(files, agreements().replace(*edit)), env={})


def test_message_signatures_default_to_optional_with_a_certificate(files: Path) -> None:
    creds = load_credentials(_config(files, agreements(nz={"soap_wss_signature": "required"})), env={})
    assert (creds["nz"].wss_signature, creds["eu-mra"].wss_signature) == ("required", "optional")
    no_cert = files / "no-cert.toml"
    no_cert.write_text(agreements().replace('soap_certificate = "nz-cert.pem"\n', ""), encoding="utf-8")
    assert load_credentials(load_config(no_cert), env={})["nz"].wss_signature == "off"


def test_a_short_secret_is_refused(files: Path) -> None:
    (files / "nz.secret").write_text("short")
    with pytest.raises(ConfigError, match="at least 16"):
        load_credentials(_config(files, agreements()), env={})


def test_partners_without_soap_credentials_are_left_out(files: Path) -> None:
    text = agreements().replace('soap_secret_file = "nz.secret"\n', "")
    assert sorted(load_credentials(_config(files, text), env={})) == ["eu-mra"]


def test_password_hashes_are_salted_and_checked() -> None:
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert check_password("correct horse", first) and check_password("correct horse", second)
    assert not check_password("wrong horse", first)
    assert not check_password("correct horse", "scrypt$garbage")
