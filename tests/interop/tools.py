"""The implementations partners use, run as they would run them: xmllint (libxml2) and
xmlschema validating against the schemas we publish, xmlsec1 verifying and signing.

A missing command skips the test on a laptop but fails it under CI=true: CI installs
them (`.ci/run`: libxml2-utils, xmlsec1) and must not pass by skipping."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"
DS = "http://www.w3.org/2000/09/xmldsig#"


def require_tool(name: str) -> str:
    """The command's path; skip (fail under CI=true) when it is not installed."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is not installed (Debian: {'xmlsec1' if name == 'xmlsec1' else 'libxml2-utils'})"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " and CI=true: the interoperability tests must run")
        pytest.skip(reason)
    return found


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str


def run(*args: str | Path) -> Run:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=120, check=False)
    return Run(done.returncode, done.stdout + done.stderr)


def xmllint_valid(schema: Path, files: Iterable[Path]) -> dict[Path, bool]:
    """Each file's verdict from `xmllint --noout --schema`: "<file> validates" or not."""
    paths = list(files)
    result = run(require_tool("xmllint"), "--noout", "--nonet", "--schema", schema, *paths)
    lines = result.output.splitlines()
    verdicts = {p: f"{p} validates" in lines for p in paths}
    assert all(verdicts.values()) == (result.returncode == 0), result.output
    return verdicts


def xmlschema_valid(schema: Path, files: Iterable[Path]) -> dict[Path, str | None]:
    """Each file's first error from the xmlschema library (None: valid)."""
    import xmlschema

    compiled = xmlschema.XMLSchema(str(schema))  # local imports only: schemaLocation is relative
    out: dict[Path, str | None] = {}
    for path in files:
        error = next(iter(compiled.iter_errors(str(path))), None)
        out[path] = None if error is None else str(error.reason or error)
    return out


def xmlsec1_verify(file: Path, cert: Path, id_attr: str, *, signature_of: str | None = None) -> Run:
    """`xmlsec1 --verify` with our (or a partner's) certificate as the only key, the Id
    attribute declared for `id_attr` ("<namespace>:<element>"). `signature_of` (a local
    name) picks the ds:Signature child of that element (--node-xpath), for messages that
    carry other signatures too (a WS-Security header's comes first); else the first one."""
    pick = []
    if signature_of is not None:
        pick = ["--node-xpath", f"//*[local-name()='{signature_of}']/*[local-name()='Signature']"]
    xmlsec1 = require_tool("xmlsec1")
    return run(xmlsec1, "--verify", "--pubkey-cert-pem", cert, "--id-attr:Id", id_attr, *pick, file)


def verified(result: Run) -> bool:
    return result.returncode == 0 and "\nOK\n" in f"\n{result.output}"


SIGNATURE_TEMPLATE = f"""<ds:Signature xmlns:ds="{DS}"><ds:SignedInfo>
<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
<ds:Reference URI="#{{id}}"><ds:Transforms>
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>
<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>
</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>"""
"""What a partner hands xmlsec1 to sign: an enveloped RSA-SHA256 signature over `#{id}`."""


def xmlsec1_sign(document: bytes, key: Path, cert: Path, id_attr: str, workdir: Path, id_value: str) -> bytes:
    """The document signed by xmlsec1, as a partner would: `Id` on the root, the template
    above as its last child, `xmlsec1 --sign --id-attr:Id`."""
    from lxml import etree

    root = etree.fromstring(document)
    root.set("Id", id_value)
    root.append(etree.fromstring(SIGNATURE_TEMPLATE.replace("{id}", id_value)))
    template = workdir / f"{id_value}-template.xml"
    template.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
    out = workdir / f"{id_value}-signed.xml"
    result = run(
        require_tool("xmlsec1"), "--sign", "--privkey-pem", f"{key},{cert}",
        "--id-attr:Id", id_attr, "--output", out, template,
    )  # fmt: skip
    assert result.returncode == 0, result.output
    return out.read_bytes()


def legacy_signed(document: bytes, key: Path, cert: Path) -> bytes:
    """A document as partners signed them before 1.1: version 1.0, no Id, Reference URI=""
    (signxml's defaults but exclusive c14n), accepted inbound during the transition."""
    from lxml import etree
    from signxml import SignatureConstructionMethod, XMLSigner
    from signxml.algorithms import CanonicalizationMethod

    root = etree.fromstring(document)
    assert root.get("Id") is None
    root.set("version", "1.0")
    signer = XMLSigner(
        method=SignatureConstructionMethod.enveloped,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(root, key=key.read_bytes(), cert=cert.read_bytes().decode())
    return bytes(etree.tostring(signed, xml_declaration=True, encoding="utf-8"))
