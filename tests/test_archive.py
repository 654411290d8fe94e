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
