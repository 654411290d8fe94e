"""`exchange serve-soap` and `exchange keys`: exit codes, what they print, a real run."""

from __future__ import annotations

import os
import re
import selectors
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer
import zeep
from lxml import etree
from typer.testing import CliRunner
from zeep.wsse.username import UsernameToken

from exchange.service.settings import with_vhost
from exchange.signing import KeyPairFiles
from exchange.soap.cli import register_soap
from exchange.soap.contract import served_schemas
from exchange.soap.credentials import check_password
from tests.amqp.isolated import BROKER, Vhosts, require_broker
from tests.soap.support import AGREEMENTS, SECRETS, fault_code

app = typer.Typer()
register_soap(app)
runner = CliRunner()


def test_keys_generate_writes_a_private_pair_and_says_how_to_use_it(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0, result.output
    key = tmp_path / "keys" / "signing-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert f"export EXCHANGE_SIGNING_KEY={key}" in result.stdout
    assert f"export EXCHANGE_SIGNING_CERT={tmp_path / 'keys' / 'signing-cert.pem'}" in result.stdout
    again = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert again.exit_code == 2 and "--force" in again.output


def test_keys_generate_warns_inside_a_work_tree(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    result = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0 and "git work tree" in result.output


def test_keys_generate_says_nothing_when_git_already_ignores_the_keys(tmp_path: Path) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=30)
    (tmp_path / ".gitignore").write_text("*.pem\n")
    result = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys")])
    assert result.exit_code == 0 and "warning" not in result.output
    (tmp_path / ".gitignore").write_text("*.log\n")
    result = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path / "keys"), "--force"])
    assert result.exit_code == 0 and "git does not ignore" in result.output and "*.pem" in result.output


def test_hash_password_reads_stdin(tmp_path: Path) -> None:
    result = runner.invoke(app, ["keys", "hash-password"], input="a long enough password\n")
    assert result.exit_code == 0
    assert check_password("a long enough password", result.stdout.strip())
    short = runner.invoke(app, ["keys", "hash-password"], input="short\n")
    assert short.exit_code == 2


def _env(tmp_path: Path, our_keys: KeyPairFiles, amqp: str) -> dict[str, str]:
    folder = tmp_path / "conf"
    folder.mkdir()
    text = AGREEMENTS.replace('soap_certificate = "eu-cert.pem"\n', "").replace(
        'soap_certificate = "nz-cert.pem"\n', ""
    )
    (folder / "agreements.toml").write_text(text)
    for partner, secret in SECRETS.items():
        (folder / f"{partner}.secret").write_text(secret)
    return {
        **os.environ,
        "EXCHANGE_CONFIG": str(folder / "agreements.toml"),
        "EXCHANGE_AUDIT_URL": f"sqlite:///{tmp_path / 'audit.db'}",
        "EXCHANGE_AMQP_URL": amqp,
        "EXCHANGE_SIGNING_KEY": str(our_keys.key),
        "EXCHANGE_SIGNING_CERT": str(our_keys.certificate),
    }


def _serve(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "exchange.soap.cli", "serve-soap", *args],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )


def _wait_for_url(proc: subprocess.Popen[str], timeout: float = 30) -> str:
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sel.select(timeout=1):
            continue
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        seen += line
        if m := re.search(r"serving (\S+/soap/v1)", line):
            return m.group(1)
    raise AssertionError(f"serve-soap did not come up:\n{seen}")


@pytest.mark.rabbitmq
def test_serve_soap_serves_until_sigterm(tmp_path: Path, our_keys: KeyPairFiles, vhosts: Vhosts) -> None:
    require_broker()
    env = _env(tmp_path, our_keys, with_vhost(BROKER, vhosts.vhost))
    proc = _serve(env, "--http", "127.0.0.1:0")
    try:
        url = _wait_for_url(proc)
        client = zeep.Client(url + "?wsdl", wsse=UsernameToken("nz", SECRETS["nz"], use_digest=True))
        with pytest.raises(zeep.exceptions.Fault) as caught:
            client.service.VerifyCertificate(CertificateNumber="2019010907123456")
        assert fault_code(caught.value) == "UNKNOWN_CERTIFICATE"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.stderr is not None and "stopped" in proc.stderr.read()


@pytest.mark.rabbitmq
def test_serve_soap_serves_the_whole_contract_with_the_configured_public_url(
    tmp_path: Path, our_keys: KeyPairFiles, vhosts: Vhosts
) -> None:
    require_broker()
    env = {
        **_env(tmp_path, our_keys, with_vhost(BROKER, vhosts.vhost)),
        "EXCHANGE_PUBLIC_URL": "https://mra.example.cn",
    }
    proc = _serve(env, "--http", "127.0.0.1:0")
    try:
        url = _wait_for_url(proc)
        base = url.removesuffix("/soap/v1")
        served = {}
        for name, path in [("wsdl", "/soap/v1?wsdl"), *((n, f"/soap/{n}") for n in sorted(served_schemas()))]:
            request = urllib.request.Request(base + path, headers={"Host": "evil.example.com"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                served[name] = etree.fromstring(answer.read())
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    addresses = [el.get("location") for el in served["wsdl"].iter("{*}address")]
    addresses += [el.get("schemaLocation") for doc in served.values() for el in doc.iter("{*}import")]
    assert len(served) == 1 + len(served_schemas()) and len(addresses) >= 2 + len(served_schemas()), addresses
    assert all(str(a).startswith("https://mra.example.cn/soap/") for a in addresses), addresses


def test_serve_soap_with_a_bad_public_url_exits_2(tmp_path: Path, our_keys: KeyPairFiles) -> None:
    env = {
        **_env(tmp_path, our_keys, "amqp://guest:guest@127.0.0.1:1/"),
        "EXCHANGE_PUBLIC_URL": "mra.example.cn",
    }
    env["EXCHANGE_AMQP_URL"] = "amqp://guest:guest@127.0.0.1:5672/"  # reached first: then the URL is checked
    result = subprocess.run(
        [sys.executable, "-m", "exchange.soap.cli", "serve-soap", "--http", "127.0.0.1:0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "EXCHANGE_PUBLIC_URL" in result.stderr, result.stderr


def test_serve_soap_without_signing_keys_exits_2(tmp_path: Path, our_keys: KeyPairFiles) -> None:
    env = _env(tmp_path, our_keys, "amqp://guest:guest@127.0.0.1:1/")
    del env["EXCHANGE_SIGNING_KEY"]
    result = subprocess.run(
        [sys.executable, "-m", "exchange.soap.cli", "serve-soap"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "exchange keys generate" in result.stderr


def test_serve_soap_with_an_unreachable_broker_exits_2(tmp_path: Path, our_keys: KeyPairFiles) -> None:
    env = _env(tmp_path, our_keys, "amqp://guest:guest@127.0.0.1:1/")
    result = subprocess.run(
        [sys.executable, "-m", "exchange.soap.cli", "serve-soap", "--http", "127.0.0.1:0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot reach the broker" in result.stderr


@pytest.mark.parametrize("http", ["8080", "localhost:http"])
def test_serve_soap_with_a_bad_address_exits_2(http: str) -> None:
    result = runner.invoke(app, ["serve-soap", "--http", http])
    assert result.exit_code == 2 and "HOST:PORT" in result.output
