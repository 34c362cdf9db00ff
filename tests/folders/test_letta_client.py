"""Folders and files through the real `letta-client` against a `memfold serve` subprocess."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from letta_client import ConflictError, Letta

from tests.e2e.server_process import ServerProcess
from tests.folders.samples import make_pdf

pytestmark = pytest.mark.timeout(90)


def wait_processed(client: Letta, folder_id: str, file_id: str) -> str:
    for _ in range(300):
        file = client.folders.files.retrieve(file_id, folder_id=folder_id)
        if file.processing_status in ("completed", "error"):
            return str(file.processing_status)
        time.sleep(0.05)
    raise AssertionError(f"file {file_id} never finished")


def test_folder_upload_list_and_delete_with_letta_client(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "home") as server:
        client = Letta(base_url=server.base_url, max_retries=0, timeout=20.0)
        folder = client.folders.create(name="manuals", description="product manuals")
        assert folder.embedding_config.embedding_model == "hash-384"

        pdf = client.folders.files.upload(
            folder.id, file=("manual.pdf", make_pdf([["Press the red button to stop."]]), "application/pdf")
        )
        notes = client.folders.files.upload(folder.id, file=("notes.md", b"# Notes\n\nCheck the oil.\n"))
        assert pdf.source_id == folder.id and pdf.file_name == "manual.pdf"
        assert wait_processed(client, folder.id, pdf.id) == "completed"
        assert wait_processed(client, folder.id, notes.id) == "completed"

        with pytest.raises(ConflictError):
            client.folders.files.upload(folder.id, file=("notes.md", b"again"), duplicate_handling="error")
        again = client.folders.files.upload(
            folder.id, file=("notes.md", b"# Notes\n\nNew."), duplicate_handling="replace"
        )
        assert wait_processed(client, folder.id, again.id) == "completed"

        full = client.folders.files.retrieve(pdf.id, folder_id=folder.id, include_content=True)
        assert full.content is not None and "Press the red button" in full.content
        assert full.total_chunks == full.chunks_embedded == 1
        listed = {f.id: f.file_name for f in client.folders.files.list(folder.id)}
        assert listed == {pdf.id: "manual.pdf", again.id: "notes.md"}

        client.folders.files.delete(again.id, folder_id=folder.id)
        assert [f.id for f in client.folders.files.list(folder.id)] == [pdf.id]
        renamed = client.folders.update(folder.id, name="manuals-v2")
        assert renamed.name == "manuals-v2"
        assert [f.name for f in client.folders.list()] == ["manuals-v2"]
        client.folders.delete(folder.id)
        assert list(client.folders.list()) == []
