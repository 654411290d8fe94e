"""Every document we send, tried as the partner receiving it would: all shipped domestic
samples converted by `exchange convert` for every XML partner of the shipped agreements
(eu, kr, nz, no, jp...), signed where the partner's transport signs (SOAP: pushed or
pulled) with the function the transports use, then validated against the schema we
publish for it by two validators we did not write (xmllint, xmlschema), signature in
place; the signatures verified in place by xmlsec1 (`--id-attr:Id`), and tampered copies
refused by xmlsec1 and by us."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from exchange.config import load_config
from exchange.registry import partner_format, soap_partner
from exchange.resources import mapping_path
from exchange.signing import (
    KeyPairFiles,
    SignatureInvalid,
    Signer,
    generate_key_pair,
    sign_document,
    verify_enveloped,
)
from exchange.xml.safe import parse_bytes
from tests.interop.tools import (
    ROOT,
    SCHEMAS,
    legacy_signed,
    verified,
    xmllint_valid,
    xmlschema_valid,
    xmlsec1_verify,
)

AGREEMENTS = load_config(ROOT / "adapters" / "agreements.toml")
PARTNERS = tuple(sorted(p for p, a in AGREEMENTS.partners.items() if partner_format(a).suffix == ".xml"))
"""Every XML partner the shipped agreements name: one added there is tried here too."""
SAMPLES = ["ccc.jsonl", "ccc-export-gb18030.csv", "glp.json", "pt-round.json"]


def signs(partner: str) -> bool:
    """The partner's transport signs what it carries (SOAP push and pull)."""
    return soap_partner(AGREEMENTS.partners[partner])


def manifest_schemas() -> set[tuple[str, str]]:
    """(partner, XSD file) its format manifest names, per family its agreement names."""
    found = set()
    for partner in PARTNERS:
        spec = tomllib.loads(mapping_path(partner, "format.toml").read_text("utf-8"))
        for family in AGREEMENTS.partners[partner].families:
            folder, name = spec["families"][family]["schema"].split("/")
            found.add((folder, name))
    return found


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPairFiles:
    return generate_key_pair(tmp_path_factory.mktemp("our-keys"), common_name="mra-exchange interop")


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory, keys: KeyPairFiles) -> dict[str, list[Path]]:
    """Per partner, the documents as the partner receives them (files, signed where sent signed)."""
    out = tmp_path_factory.mktemp("converted")
    args = [sys.executable, "-m", "exchange.cli", "convert", *(str(ROOT / "samples" / s) for s in SAMPLES)]
    args += [a for p in PARTNERS for a in ("--partner", p)]
    args += ["--out", str(out), "--audit", f"sqlite:///{out / 'audit.db'}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 1, done.stdout + done.stderr  # the one rejected sample row (README)
    signer = Signer.from_files(keys.key, keys.certificate)
    found: dict[str, list[Path]] = {}
    for partner in PARTNERS:
        files = sorted((out / partner).glob("*.xml"))
        if signs(partner):
            for n, path in enumerate(files):
                path.write_bytes(sign_document(signer, path.read_bytes(), f"{partner}-msg-{n}"))
        found[partner] = files
    return found


def schema_of(path: Path) -> Path:
    """The XSD we publish for the document's family and version (its root says both)."""
    root = parse_bytes(path.read_bytes())
    partner, family = str(etree.QName(root).namespace).split(":")[2:4]
    return SCHEMAS / partner / f"{family}-{root.get('version')}.xsd"


def root_name(path: Path) -> str:
    """The `<namespace>:<element>` xmlsec1's --id-attr names."""
    q = etree.QName(parse_bytes(path.read_bytes()))
    return f"{q.namespace}:{q.localname}"


def test_every_document_we_send_validates_with_xmllint_and_xmlschema_signature_in_place(
    sent: dict[str, list[Path]],
) -> None:
    by_schema: dict[Path, list[Path]] = {}
    for files in sent.values():
        for path in files:
            by_schema.setdefault(schema_of(path), []).append(path)
    families = {(s.parent.name, s.name) for s in by_schema}
    assert families == manifest_schemas() and {
        ("eu", "ccc-1.2.xsd"), ("eu", "glp-1.2.xsd"), ("eu", "pt-1.2.xsd"),
        ("kr", "ccc-1.2.xsd"), ("kr", "pt-1.2.xsd"), ("nz", "ccc-1.2.xsd"),
    } <= families  # fmt: skip
    counts: Counter[str] = Counter()
    for schema, files in sorted(by_schema.items()):
        lint = xmllint_valid(schema, files)
        library = xmlschema_valid(schema, files)
        for path in files:
            assert lint[path], f"xmllint refuses {path.name} against {schema.name}"
            assert library[path] is None, f"xmlschema refuses {path.name}: {library[path]}"
        counts["xmllint"] += sum(lint.values())
        counts["xmlschema"] += sum(v is None for v in library.values())
        counts["signed"] += sum(b"<ds:Signature" in p.read_bytes() for p in files)
    total = sum(len(f) for f in sent.values())
    per_partner = {p: len(f) for p, f in sent.items()}
    print(f"\ndocuments {total} {per_partner}: xmllint valid {counts['xmllint']}, "
          f"xmlschema valid {counts['xmlschema']}, signed in place {counts['signed']}")  # fmt: skip
    assert counts["xmllint"] == counts["xmlschema"] == total >= 12
    assert counts["signed"] == sum(len(sent[p]) for p in PARTNERS if signs(p)) and not any(
        b"Signature" in path.read_bytes() for p in PARTNERS if not signs(p) for path in sent[p]
    )


def test_the_validators_refuse_what_the_published_schemas_do_not_allow(
    sent: dict[str, list[Path]], tmp_path: Path
) -> None:
    """Not a formality: a signature where 1.1 (and 1.2) does not put it, or a signed document against
    1.0, is refused by both validators."""
    doc = sent["nz"][0]
    root = parse_bytes(doc.read_bytes())
    misplaced = tmp_path / "misplaced.xml"
    signature = root[-1]
    root.insert(0, signature)  # first instead of last
    misplaced.write_bytes(etree.tostring(root))
    duplicate_id = tmp_path / "duplicate-id.xml"
    root = parse_bytes(doc.read_bytes())
    root[0].set("Id", root.get("Id") or "")  # xs:ID: unique per document, and Scheme has no Id
    duplicate_id.write_bytes(etree.tostring(root))
    nz12 = SCHEMAS / "nz" / "ccc-1.2.xsd"
    for bad in (misplaced, duplicate_id):
        assert not xmllint_valid(nz12, [bad])[bad]
        assert xmlschema_valid(nz12, [bad])[bad] is not None
    nz10 = SCHEMAS / "nz" / "ccc-1.0.xsd"
    assert not xmllint_valid(nz10, [doc])[doc]  # 1.0 has no Id, no Signature, version 1.0
    assert xmlschema_valid(nz10, [doc])[doc] is not None


def test_xmlsec1_verifies_every_signed_document_in_place_and_refuses_tampered_copies(
    sent: dict[str, list[Path]], keys: KeyPairFiles, tmp_path: Path
) -> None:
    signed = [path for p in PARTNERS if signs(p) for path in sent[p]]
    cert = keys.certificate
    ours = cert.read_bytes()
    counts: Counter[str] = Counter()
    for path in signed:
        result = xmlsec1_verify(path, cert, root_name(path))
        assert verified(result), f"{path.name}: {result.output}"
        counts["xmlsec1 verified"] += 1
        verify_enveloped(parse_bytes(path.read_bytes()), ours)
        counts["we verified"] += 1
        tampered = tmp_path / f"tampered-{path.parent.name}-{path.name}"
        root = parse_bytes(path.read_bytes())
        number = next(
            e for e in root.iter() if e.text and e.text.strip() and not str(e.tag).startswith("{http")
        )
        number.text = (number.text or "") + "X"  # one character more in the first value
        tampered.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
        refused = xmlsec1_verify(tampered, cert, root_name(path))
        assert not verified(refused) and refused.returncode != 0, refused.output
        with pytest.raises(SignatureInvalid):
            verify_enveloped(parse_bytes(tampered.read_bytes()), ours)
        counts["tampered refused"] += 1
    print(f"\nsigned documents {len(signed)}: {dict(counts)}")
    assert counts == {
        "xmlsec1 verified": len(signed),
        "we verified": len(signed),
        "tampered refused": len(signed),
    }
    assert len(signed) >= 8


def test_xmlsec1_refuses_a_signature_made_with_another_key(
    sent: dict[str, list[Path]], keys: KeyPairFiles, tmp_path: Path
) -> None:
    other = generate_key_pair(tmp_path / "other")
    doc = sent["nz"][0]
    unsigned = parse_bytes(doc.read_bytes())
    unsigned.remove(unsigned[-1])
    forged = tmp_path / "forged.xml"
    forged.write_bytes(
        sign_document(Signer.from_files(other.key, other.certificate), etree.tostring(unsigned))
    )
    assert verified(xmlsec1_verify(forged, other.certificate, root_name(doc)))  # the forger's own key
    assert not verified(xmlsec1_verify(forged, keys.certificate, root_name(doc)))  # not ours


def test_exchange_validate_accepts_what_we_send_signed_and_1_0_during_the_transition(
    sent: dict[str, list[Path]], keys: KeyPairFiles, tmp_path: Path
) -> None:
    files = [p for f in sent.values() for p in f]
    cli = [sys.executable, "-m", "exchange.cli", "validate"]
    done = subprocess.run([*cli, *map(str, files)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    legacy = tmp_path / "legacy-1.0.xml"
    unsigned = parse_bytes(sent["nz"][0].read_bytes())
    unsigned.remove(unsigned[-1])  # our signature off, and its Id: as 1.0 documents were
    del unsigned.attrib["Id"]
    legacy.write_bytes(legacy_signed(etree.tostring(unsigned), keys.key, keys.certificate))
    assert b'URI=""' in legacy.read_bytes() and b'version="1.0"' in legacy.read_bytes()
    with_id = tmp_path / "1.0-with-id.xml"  # 1.0 never had an Id: still refused
    root = parse_bytes(legacy.read_bytes())
    root.set("Id", "doc1")
    with_id.write_bytes(etree.tostring(root))
    done = subprocess.run([*cli, str(legacy)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([*cli, str(with_id)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1 and "Id" in done.stdout + done.stderr, done.stdout + done.stderr
    print(
        f"\nexchange validate: {len(files)} sent documents valid, "
        "1.0 signed (legacy) valid, 1.0 with Id refused"
    )


def test_the_record_version_the_service_writes_validates_with_both_and_1_1_refuses_it(
    keys: KeyPairFiles, tmp_path: Path
) -> None:
    """What `exchange run` sends a partner carries the record's version number
    (recordVersion, format 1.2, docs/versions.md): both validators accept it against 1.2,
    signed where the transport signs, xmlsec1 verifies it; against 1.1 both refuse it,
    which is why it is a new minor version and not a change to 1.1."""
    from exchange.intake import Accepted
    from exchange.pipeline import Converter
    from tests import canonical_samples as samples

    config = load_config(ROOT / "adapters" / "agreements.toml")
    with_12 = [p for p in PARTNERS if any((SCHEMAS / p).glob("*-1.2.xsd"))]  # no, jp: 1.0 only
    converter = Converter(config, with_12)
    signer = Signer.from_files(keys.key, keys.certificate)
    records = [samples.certificate(), samples.glp_statement(), samples.pt_round()]
    files: list[Path] = []
    for record in records:
        for doc in converter.convert(Accepted(record, "test"), version=7).converted:
            data = (
                sign_document(signer, doc.document, f"v-{doc.partner}")
                if signs(doc.partner)
                else doc.document
            )
            path = tmp_path / f"{doc.partner}-{doc.kind}.xml"
            path.write_bytes(data)
            files.append(path)
    assert len(files) == 6  # eu ccc glp pt, kr ccc pt, nz ccc
    for path in files:
        assert parse_bytes(path.read_bytes()).get("recordVersion") == "7"
        schema = schema_of(path)
        assert schema.name.endswith("-1.2.xsd")
        assert xmllint_valid(schema, [path])[path], f"xmllint refuses {path.name}"
        assert xmlschema_valid(schema, [path])[path] is None, f"xmlschema refuses {path.name}"
        older = schema.with_name(schema.name.replace("-1.2.xsd", "-1.1.xsd"))
        as_11 = tmp_path / f"as-1.1-{path.name}"
        root = parse_bytes(path.read_bytes())
        root.set("version", "1.1")
        as_11.write_bytes(etree.tostring(root))
        assert not xmllint_valid(older, [as_11])[as_11]
        assert "recordVersion" in str(xmlschema_valid(older, [as_11])[as_11])
        if b"<ds:Signature" in path.read_bytes():
            assert verified(xmlsec1_verify(path, keys.certificate, root_name(path))), path.name
