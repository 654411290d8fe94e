"""samples/partners/: what partners send us, one family each, valid for the partner's XSD by
xmllint and xmlschema (not our code), and read back into canonical records of their own
schemes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import xmlschema

from exchange.commands.documents import import_document
from exchange.config import load_config
from exchange.model import CertScheme, GlpStatement, ProductCertificate

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "samples" / "partners").rglob("*.xml"))
FAMILY = {"kc": "ccc", "eess": "ccc", "glp": "glp", "pt": "pt"}


def schema_of(sample: Path) -> Path:
    return ROOT / "schemas" / sample.parent.name / f"{FAMILY[sample.name.split('-')[0]]}-1.0.xsd"


def test_every_partner_family_that_comes_back_has_a_sample() -> None:
    assert {p.parent.name for p in SAMPLES} >= {"kr", "nz", "eu"}


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_a_partner_sample_passes_its_xsd_by_independent_validators(sample: Path) -> None:
    xsd = schema_of(sample)
    xmlschema.XMLSchema(str(xsd)).validate(str(sample))
    if shutil.which("xmllint") is None:
        pytest.skip("xmllint is not installed (apt-get install libxml2-utils)")
    out = subprocess.run(
        ["xmllint", "--noout", "--nonet", "--schema", str(xsd), str(sample)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("sample", SAMPLES, ids=[p.name for p in SAMPLES])
def test_a_partner_sample_reads_back_as_a_record_of_its_own_scheme(sample: Path) -> None:
    partner, record = import_document(sample.read_bytes(), load_config())
    assert partner == sample.parent.name
    assert record.record_id in sample.name or isinstance(record, GlpStatement)
    if isinstance(record, ProductCertificate):
        assert record.scheme is not CertScheme.CCC  # partners send their own schemes back
        assert record.applicant.country.upper() == partner.upper()
