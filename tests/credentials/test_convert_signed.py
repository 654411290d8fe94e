"""The README's first command with a development key: a .jwt beside every bri .jsonld,
each verified here by a second JOSE library (jwcrypto, not joserfc which signed it)
against the DID document's key, status lists decoded without our code, and
`exchange verify-credential out/bri/*.jwt` answering valid, active/suspended/revoked."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jwcrypto import jwk, jws

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ["samples/ccc.jsonl", "samples/ccc-export-gb18030.csv", "samples/glp.json", "samples/pt-round.json"]


def readme_commands() -> dict[str, list[str]]:
    """The README's first code block, command by command (the test runs what it says)."""
    text = (ROOT / "README.md").read_text("utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    commands: dict[str, list[str]] = {}
    for line in block.splitlines():
        for part in line.split("#", 1)[0].replace("&&", ";").split(";"):
            words = shlex.split(part)
            if len(words) >= 2 and words[0] == "exchange":
                commands[words[1]] = words[2:]
            elif words and words[0] == "export":
                commands["export"] = words[1:]
    return commands


README = readme_commands()
EXPECTED_STATUS = {  # what the samples say: 暂停 = suspended, 撤销/注销 = withdrawn/cancelled
    "ccc-2019010907123456": "active",
    "ccc-2019010907123456.v2": "active",  # read again from the CSV, other contents: version 2
    "ccc-2020011608000123": "suspended",
    "ccc-2018010901987654": "revoked",
    "glp-CN-20190630-3fdcbe3eb3": "active",
    "pt-TOY-PB-2019-03": "active",
}


def run(*args: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture(scope="module")
def converted(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("signed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env["PYTHONPATH"] = str(ROOT)
    assert README["keys"] == ["generate", "--out", "keys/"]
    assert README["export"] == ["EXCHANGE_CREDENTIAL_KEY=$PWD/keys/credential-key.pem"]
    keys = run("keys", "generate", "--out", str(tmp / "keys"), env=env, cwd=tmp)
    assert keys.returncode == 0, keys.stderr
    assert f"export EXCHANGE_CREDENTIAL_KEY={tmp / 'keys' / 'credential-key.pem'}" in keys.stdout
    env["EXCHANGE_CREDENTIAL_KEY"] = str(tmp / "keys" / "credential-key.pem")  # as the README exports it
    env["EXCHANGE_AUDIT_URL"] = f"sqlite:///{tmp / 'audit.db'}"
    out = tmp / "out"
    args = README["convert"]
    assert args[args.index("--out") + 1] == "out" and [a for a in args if a.startswith("samples/")] == SAMPLES
    args[args.index("--out") + 1] = str(out)
    result = run("convert", *args, env=env)
    assert result.returncode == 1, result.stderr  # the 15-digit CSV row, as the README says
    return out, env, result


def did_key(out: Path) -> tuple[dict[str, Any], jwk.JWK]:
    doc = json.loads((out / "bri" / ".well-known" / "did.json").read_text())
    (method,) = doc["verificationMethod"]
    assert doc["assertionMethod"] == [method["id"]]
    return doc, jwk.JWK(**method["publicKeyJwk"])


def test_every_credential_has_a_jwt_that_jwcrypto_verifies(converted: Any) -> None:
    out, _, result = converted
    doc, key = did_key(out)
    jsonlds = sorted((out / "bri").glob("*.jsonld"))
    assert {p.stem for p in jsonlds} == set(EXPECTED_STATUS)
    assert {p.stem for p in (out / "bri").glob("*.jwt")} == set(EXPECTED_STATUS)  # each beside its .jsonld
    assert "bri: 6" in result.stderr and "signed as vc+jwt" in result.stderr
    for path in jsonlds:
        token = path.with_suffix(".jwt").read_text()
        verifier = jws.JWS()
        verifier.deserialize(token)
        verifier.verify(key, alg="ES256")  # raises when it does not verify
        header = verifier.jose_header
        assert header["typ"] == "vc+jwt" and header["cty"] == "vc" and header["alg"] == "ES256"
        assert header["kid"] == doc["verificationMethod"][0]["id"]
        assert header["kid"].startswith(doc["id"] + "#")
        payload = json.loads(verifier.payload)
        assert payload == json.loads(path.read_bytes())  # the same credential as the .jsonld
        assert payload["issuer"]["id"] == doc["id"] == "did:web:cnca.gov.cn"
        assert [e["statusPurpose"] for e in payload["credentialStatus"]] == ["revocation", "suspension"]
        assert payload["credentialSchema"]["id"].endswith(":1.1")  # profile 1.1, without a number:
        assert "recordVersion" not in payload  # a run's own numbers are not the record's (docs/versions.md)


def _bit(encoded: str, index: int) -> int:
    """Independent of exchange.credentials: Multibase 'u' + base64url, GZIP, index 0 the
    left-most bit of the first byte."""
    assert encoded[0] == "u"
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) >= 16 * 1024  # the specification's minimum of 131,072 entries
    return (raw[index // 8] >> (7 - index % 8)) & 1


def test_status_lists_decode_independently_and_say_what_the_samples_say(converted: Any) -> None:
    out, _, _ = converted
    _, key = did_key(out)
    lists: dict[str, dict[str, Any]] = {}
    for purpose in ("revocation", "suspension"):
        token = (out / "bri" / "status" / purpose / "1.jwt").read_text()
        verifier = jws.JWS()
        verifier.deserialize(token)
        verifier.verify(key, alg="ES256")
        assert verifier.jose_header["typ"] == "vc+jwt"
        credential = json.loads(verifier.payload)
        assert credential == json.loads((out / "bri" / "status" / purpose / "1.json").read_text())
        assert "BitstringStatusListCredential" in credential["type"]
        assert credential["credentialSubject"]["statusPurpose"] == purpose
        lists[purpose] = credential
    for stem, expected in EXPECTED_STATUS.items():
        payload = json.loads((out / "bri" / f"{stem}.jsonld").read_bytes())
        bits = {}
        for entry in payload["credentialStatus"]:
            listed = lists[entry["statusPurpose"]]
            assert (
                entry["statusListCredential"]
                == listed["id"]
                == f"https://cnca.gov.cn/status/{entry['statusPurpose']}/1"
            )
            bits[entry["statusPurpose"]] = _bit(
                listed["credentialSubject"]["encodedList"], int(entry["statusListIndex"])
            )
        got = "revoked" if bits["revocation"] else "suspended" if bits["suspension"] else "active"
        assert got == expected, stem


def test_verify_credential_says_valid_for_each_and_names_the_suspended_one(converted: Any) -> None:
    out, env, _ = converted
    assert README["verify-credential"] == ["out/bri/*.jwt"]
    files = sorted(str(p) for p in (out / "bri").glob("*.jwt"))  # the shell's expansion of it
    result = run("verify-credential", *files, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(EXPECTED_STATUS)
    for line in lines:
        stem = Path(line.split(":", 1)[0]).stem
        assert f": valid; {EXPECTED_STATUS[stem]}; issuer did:web:cnca.gov.cn; subject urn:" in line, line


def test_one_credential_id_per_version(converted: Any) -> None:
    """2019010907123456 comes twice (JSON Lines and CSV, different contents): two ids."""
    out, env, _ = converted
    db = env["EXCHANGE_AUDIT_URL"].removeprefix("sqlite:///")
    query = "SELECT credential_id FROM credential_status_entries WHERE subject = 'ccc:2019010907123456'"
    with sqlite3.connect(db) as conn:
        ids = {row[0] for row in conn.execute(query)}
    assert len(ids) == 2
    written = json.loads((out / "bri" / "ccc-2019010907123456.jsonld").read_bytes())["id"]
    earlier = json.loads((out / "bri" / "ccc-2019010907123456.v2.jsonld").read_bytes())["id"]
    assert {written, earlier} == ids  # each version's file carries its own id
    for stem in ("ccc-2019010907123456", "ccc-2019010907123456.v2"):  # and its own issue time
        doc = json.loads((out / "bri" / f"{stem}.jsonld").read_bytes())
        assert doc["validFrom"].endswith("Z") and doc["credentialSubject"]["certificateIssueDate"]
    again = run("convert", *SAMPLES, "--partner", "bri", "--out", str(out.parent / "again"), env=env)
    assert again.returncode == 1
    with sqlite3.connect(db) as conn:
        assert {row[0] for row in conn.execute(query)} == ids  # same contents, same ids
    assert (
        json.loads((out.parent / "again" / "bri" / "ccc-2019010907123456.jsonld").read_bytes())["id"]
        == written
    )


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["credentialSubject"]["name"] += " (altered)"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_tampered_credential_is_refused_by_both_libraries(converted: Any, tmp_path: Path) -> None:
    out, env, _ = converted
    _, key = did_key(out)
    token = (out / "bri" / "ccc-2019010907123456.jwt").read_text()
    forged = _tamper(token)
    verifier = jws.JWS()
    verifier.deserialize(forged)
    with pytest.raises(jws.InvalidJWSSignature):
        verifier.verify(key, alg="ES256")
    bad = out / "bri" / "ccc-forged.jwt"  # beside the others: same DID document, same lists
    bad.write_text(forged)
    try:
        result = run("verify-credential", str(bad), str(out / "bri" / "ccc-2019010907123456.jwt"), env=env)
    finally:
        bad.unlink()
    assert result.returncode == 1
    first, second = result.stdout.splitlines()
    assert ": invalid: the signature does not verify" in first
    assert ": valid; active" in second


def test_verify_credential_refuses_unsigned_and_needs_arguments(converted: Any) -> None:
    out, env, _ = converted
    result = run("verify-credential", str(out / "bri" / "pt-TOY-PB-2019-03.jsonld"), env=env)
    assert result.returncode == 1 and "not secured" in result.stdout
    assert run("verify-credential", env=env).returncode == 2
    assert run("verify-credential", str(out / "nope.jwt"), env=env).returncode == 2


def test_without_a_key_only_jsonld_is_written_and_that_is_said_once(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXCHANGE_")}
    env.update(PYTHONPATH=str(ROOT), EXCHANGE_AUDIT_URL=f"sqlite:///{tmp_path / 'audit.db'}")
    result = run("convert", "samples/ccc.jsonl", "--partner", "bri", "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("credentials are not signed: no credential key") == 1
    assert sorted(p.suffix for p in (tmp_path / "out" / "bri").glob("ccc-*")) == [".jsonld"] * 3
    assert (tmp_path / "out" / "bri" / "status" / "suspension" / "1.json").is_file()
    assert not (tmp_path / "out" / "bri" / "status" / "suspension" / "1.jwt").exists()


def test_did_document_prints_the_key(converted: Any) -> None:
    out, env, _ = converted
    result = run("did-document", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == json.loads((out / "bri" / ".well-known" / "did.json").read_text())
    other = run("did-document", env={**env, "EXCHANGE_ISSUER_DID": "did:web:cnca.example"})
    assert json.loads(other.stdout)["id"] == "did:web:cnca.example"
    assert run("did-document", env={**env, "EXCHANGE_ISSUER_DID": "did:key:z6Mk"}).returncode == 2


def test_a_version_moved_aside_takes_its_jwt_with_it(converted: Any) -> None:
    """The CSV version read first, then the JSON Lines one with the later status change:
    the first moves to .v1, its .jwt with it; each .jwt signs exactly its .jsonld."""
    out, env, _ = converted
    again = out.parent / "moved"
    csv, jsonl = ROOT / "samples" / "ccc-export-gb18030.csv", ROOT / "samples" / "ccc.jsonl"
    result = run("convert", str(csv), str(jsonl), "--partner", "bri", "--out", str(again), env=env)
    assert result.returncode == 1, result.stderr
    _, key = did_key(again)
    stems = {p.stem for p in (again / "bri").glob("ccc-2019010907123456*")}
    assert stems == {"ccc-2019010907123456", "ccc-2019010907123456.v1"}
    ids = set()
    for stem in stems:
        jsonld, token = again / "bri" / f"{stem}.jsonld", (again / "bri" / f"{stem}.jwt").read_text()
        verifier = jws.JWS()
        verifier.deserialize(token)
        verifier.verify(key, alg="ES256")
        assert json.loads(verifier.payload) == json.loads(jsonld.read_bytes()), stem
        ids.add(json.loads(jsonld.read_bytes())["id"])
    assert len(ids) == 2
    current = json.loads((again / "bri" / "ccc-2019010907123456.jsonld").read_bytes())
    assert current["credentialSubject"]["assessment"][0]["assessedProduct"][0]["product"]["nameEn"]
