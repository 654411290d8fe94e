"""Issue 13, finding 4: an insider with the database file cuts the tail, empties the store,
or changes an entry and re-hashes the rest. A plain `exchange audit verify` said "intact";
against the checkpoint the service sealed itself (exchange/audit/sealing.py) it exits 1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange.audit import GENESIS, open_store
from exchange.audit.chain import link_hash
from exchange.audit.cli import app as audit_app
from exchange.audit.sealing import PeriodicSealer, read_seal, seal, seal_path
from exchange.cli import app as main_app
from exchange.signing import KeyPairFiles, Signer, generate_key_pair
from tests.audit.helpers import Raw, fill, sample

N = 10
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def service_keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPairFiles:
    return generate_key_pair(tmp_path_factory.mktemp("service-keys"), common_name="audit sealing test")


@pytest.fixture
def env(service_keys: KeyPairFiles, tmp_path: Path) -> dict[str, str]:
    return {
        "EXCHANGE_SIGNING_KEY": str(service_keys.key),
        "EXCHANGE_SIGNING_CERT": str(service_keys.certificate),
        "EXCHANGE_AUDIT_CHECKPOINT_DIR": str(tmp_path / "seals"),
        "EXCHANGE_AUDIT_URL": "",
    }


@pytest.fixture
def sealed(store_url: str, service_keys: KeyPairFiles, env: dict[str, str]) -> Iterator[Raw]:
    """N entries, sealed by the service; raw SQL access with the triggers out of the way."""
    fill(store_url, N)
    with open_store(store_url) as store:
        seal(store, Signer.from_files(service_keys.key, service_keys.certificate), Path(env[
            "EXCHANGE_AUDIT_CHECKPOINT_DIR"]))  # fmt: skip
    raw = Raw(store_url)
    with raw.unguarded():
        yield raw
    raw.close()


def verify(url: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner(env=env).invoke(audit_app, ["verify", "--audit", url])
    return result.exit_code, result.stdout + result.stderr


def test_an_untouched_chain_holds_its_sealed_checkpoint(
    sealed: Raw, store_url: str, env: dict[str, str]
) -> None:
    code, out = verify(store_url, env)
    assert code == 0 and f"holds sealed checkpoint head {N}" in out


def test_a_cut_tail_is_caught(sealed: Raw, store_url: str, env: dict[str, str]) -> None:
    sealed.run("DELETE FROM {t} WHERE seq > ?", N - 3)
    code, out = verify(store_url, env)
    assert code == 1 and "BROKEN" in out and "truncated" in out


def test_an_emptied_store_is_caught(sealed: Raw, store_url: str, env: dict[str, str]) -> None:
    sealed.run("DELETE FROM {t}")
    code, out = verify(store_url, env)
    assert code == 1 and "truncated" in out and f"recorded entry {N}" in out


def test_a_rewritten_and_rehashed_chain_is_caught(sealed: Raw, store_url: str, env: dict[str, str]) -> None:
    rows = sealed.rows()
    sealed.run("DELETE FROM {t}")
    prev = GENESIS
    for row in rows:
        if row.seq == 2:
            row = row._replace(details='{"i":2,"note":"nothing happened"}')
        row = row._replace(prev_hash=prev, hash=link_hash(row.body(), prev, row.seq))
        sealed.insert(row)
        prev = row.hash
    code, out = verify(store_url, env)
    assert code == 1 and "changed" in out and "rewritten" in out


def test_a_deleted_seal_is_reported_as_expected_but_missing(
    sealed: Raw, store_url: str, env: dict[str, str]
) -> None:
    for path in Path(env["EXCHANGE_AUDIT_CHECKPOINT_DIR"]).iterdir():
        path.unlink()
    code, out = verify(store_url, env)
    assert code == 1 and "no sealed checkpoint" in out and "expected" in out


def test_a_seal_made_with_another_key_does_not_verify(
    sealed: Raw, store_url: str, env: dict[str, str], tmp_path: Path
) -> None:
    mallory = generate_key_pair(tmp_path / "mallory", common_name="mallory")
    sealed.run("DELETE FROM {t} WHERE seq > ?", N - 3)
    with open_store(store_url) as store:  # re-sealed at the cut head, with a key of one's own
        seal(
            store,
            Signer.from_files(mallory.key, mallory.certificate),
            Path(env["EXCHANGE_AUDIT_CHECKPOINT_DIR"]),
        )
    code, out = verify(store_url, env)
    assert code == 1 and "does not verify" in out


def test_an_edited_seal_does_not_verify(sealed: Raw, store_url: str, env: dict[str, str]) -> None:
    (path,) = Path(env["EXCHANGE_AUDIT_CHECKPOINT_DIR"]).iterdir()  # the one seal of this store
    doc = json.loads(path.read_text())
    doc["checkpoint"]["seq"] = N - 3
    path.write_text(json.dumps(doc))
    sealed.run("DELETE FROM {t} WHERE seq > ?", N - 3)
    code, out = verify(store_url, env)
    assert code == 1 and "does not verify" in out


def test_convert_seals_the_head_it_leaves(
    tmp_path: Path, env: dict[str, str], service_keys: KeyPairFiles
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    result = CliRunner(env=env).invoke(
        main_app,
        ["convert", str(ROOT / "samples" / "ccc.jsonl"), "--partner", "eu", "--out", str(tmp_path / "out"),
         "--audit", url],
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    with open_store(url) as store:
        head = store.head()
        path = seal_path(store, Path(env["EXCHANGE_AUDIT_CHECKPOINT_DIR"]))
    assert head is not None
    sealed = read_seal(path, service_keys.certificate.read_bytes())
    assert (sealed.seq, sealed.hash) == head
    assert verify(url, env)[0] == 0


def test_the_service_seals_every_n_entries_and_every_interval(
    tmp_path: Path, service_keys: KeyPairFiles
) -> None:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    signer = Signer.from_files(service_keys.key, service_keys.certificate)
    cert = service_keys.certificate.read_bytes()
    with open_store(url) as store:
        store.batch_size = 50
        sealer = PeriodicSealer(store, signer, tmp_path / "seals", every_s=0.3, every_entries=200).start()
        path = seal_path(store, tmp_path / "seals")
        store.append_many(sample(i) for i in range(450))  # batches of 50: sealed at 200 and 400
        assert sealer.sealed == 2 and read_seal(path, cert).seq == 400
        store.flush()  # 450 written: sealed by the timer within the interval
        deadline = time.monotonic() + 5
        while read_seal(path, cert).seq != 450 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert read_seal(path, cert).seq == 450
        store.append(sample(450))
        sealer.stop()  # what was written since is sealed when the service stops
        assert read_seal(path, cert).seq == 451
