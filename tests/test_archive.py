"""The document archive: what was sent and what came back, on SQLite and PostgreSQL."""

from __future__ import annotations

from exchange.archive import Archived, DocumentArchive, Kind


def test_documents_and_receipts_are_kept_once_per_content(store_url: str) -> None:
    archive = DocumentArchive(store_url)
    try:
        doc = Archived("kr", "m1", Kind.DOCUMENT, "a" * 64, "application/xml", b"<a>\x00\xff</a>")
        archive.put_many([doc, Archived("eu", "m1", Kind.DOCUMENT, "b" * 64, "application/xml", b"<b/>")])
        archive.put_many([doc])  # a redelivered batch: nothing new
        archive.put_many(
            [
                Archived("kr", "m1", Kind.RECEIPT, "c" * 64, "application/json", b'{"status":"REJECT"}'),
                Archived("kr", "m1", Kind.RECEIPT, "d" * 64, "application/json", b'{"status":"ACK"}'),
            ]
        )
        archive.put_many([])
        kept = archive.for_message("m1")
        assert sorted((a.partner, a.kind.value, a.sha256[0]) for a in kept) == [
            ("eu", "document", "b"), ("kr", "document", "a"), ("kr", "receipt", "c"), ("kr", "receipt", "d"),
        ]  # fmt: skip
        found = archive.get("kr", "m1")
        assert found is not None and found.body == b"<a>\x00\xff</a>" and found.stored_at.endswith("Z")
        assert archive.get("nz", "m1") is None and archive.for_message("m2") == []
    finally:
        archive.close()


def test_the_archive_outlives_the_process_that_wrote_it(store_url: str) -> None:
    first = DocumentArchive(store_url)
    first.put_many([Archived("kr", "m1", Kind.DOCUMENT, "a" * 64, "application/xml", b"<a/>")])
    first.close()
    second = DocumentArchive(store_url)
    try:
        assert [a.body for a in second.for_message("m1")] == [b"<a/>"]
    finally:
        second.close()


def test_bodies_are_stored_compressed_and_archives_from_before_stay_readable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)  # an archive as written before compression
    old.execute(
        "CREATE TABLE document_archive (partner TEXT NOT NULL, message_id TEXT NOT NULL, kind TEXT NOT NULL,"
        " sha256 TEXT NOT NULL, content_type TEXT NOT NULL, body BLOB NOT NULL, stored_at TEXT NOT NULL,"
        " PRIMARY KEY (partner, message_id, kind, sha256))"
    )
    old.execute(
        "INSERT INTO document_archive VALUES ('kr','m0','document',?, 'application/xml', ?, "
        "'2026-01-01T00:00:00.000000Z')",
        ("e" * 64, b"<old/>"),
    )
    old.commit()
    old.close()
    archive = DocumentArchive(f"sqlite:///{path}")
    document = b"<certificate>" + b"<model>PA-1</model>" * 200 + b"</certificate>"
    try:
        archive.put_many([Archived("kr", "m1", Kind.DOCUMENT, "a" * 64, "application/xml", document)])
        assert [a.body for a in archive.for_message("m0")] == [b"<old/>"]
        assert [a.body for a in archive.for_message("m1")] == [document]
        assert dict(archive.recent_documents(10)) == {"m0": b"<old/>", "m1": document}
    finally:
        archive.close()
    raw = sqlite3.connect(path)
    stored = raw.execute("SELECT length(body), dict FROM archived_documents WHERE message_id='m1'").fetchone()
    raw.close()
    assert stored[1] != 0 and stored[0] < len(document) / 4


def test_bodies_of_one_kind_share_a_dictionary_and_take_a_fraction_of_their_size(store_url: str) -> None:
    """The first body of a partner's kind becomes its dictionary; later ones, alike but not
    equal, are stored against it in far fewer bytes than compressed alone."""
    import random
    import zlib

    rng = random.Random(7)

    def certificate(i: int) -> bytes:
        models = "".join(f"<model>PA-{rng.randrange(10**6)}</model>" for _ in range(5))
        return (
            f'<?xml version="1.0"?><certInfo xmlns="urn:x"><certNum>{i:016d}</certNum>'
            f"<applicant>Shenzhen Example Electronics Co., Ltd. {rng.randrange(10**9)}</applicant>"
            f"{models}<standards><std>GB 4943.1-2022</std><std>GB/T 9254.1-2021</std></standards>"
            "</certInfo>"
        ).encode()

    docs = [certificate(i) for i in range(20)]
    archive = DocumentArchive(store_url)
    try:
        archive.put_many(
            Archived("kr", f"m{i}", Kind.DOCUMENT, f"{i:064x}", "application/xml", d)
            for i, d in enumerate(docs)
        )
        assert [archive.get("kr", f"m{i}").body for i in range(20)] == docs  # type: ignore[union-attr]
        stored = sum(len(r[6]) for r in archive._conn.execute(f"SELECT * FROM {archive._table}").fetchall())
    finally:
        archive.close()
    alone = sum(len(zlib.compress(d, 6)) for d in docs[1:])
    assert stored < alone / 2, (stored, alone)
