"""/v1/folders through the API: folders, uploads of every type, duplicates, errors, progress."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from fastapi import FastAPI

from memfold.llm.base import ModelHandle
from memfold.llm.embeddings import LocalHashEmbedder
from memfold.llm.providers import ModelRegistry
from tests.folders.helpers import chunks, make_folder, processed, upload
from tests.folders.samples import make_docx, make_pdf

MARKDOWN = b"# Handbook\n\nWelcome aboard.\n\n## Holidays\n\nYou get 25 days of paid leave.\n"


async def test_folder_create_list_modify_delete(client: httpx.AsyncClient) -> None:
    folder = await make_folder(client, "docs", description="team docs", embedding_chunk_size=200)
    assert folder["id"].startswith("source-")
    assert folder["embedding_config"]["handle"] == "local/hash-384"
    assert folder["embedding_config"]["embedding_chunk_size"] == 200
    other = await make_folder(client, "other", embedding="local/hash-256")
    assert other["embedding_config"]["embedding_dim"] == 256

    listed = (await client.get("/v1/folders/")).json()
    assert [f["name"] for f in listed] == ["docs", "other"]
    assert [f["name"] for f in (await client.get("/v1/folders/", params={"name": "other"})).json()] == [
        "other"
    ]

    changed = await client.patch(
        f"/v1/folders/{folder['id']}", json={"name": "handbook", "instructions": "HR"}
    )
    assert changed.status_code == 200
    assert (changed.json()["name"], changed.json()["instructions"]) == ("handbook", "HR")
    clash = await client.patch(f"/v1/folders/{folder['id']}", json={"name": "other"})
    assert clash.status_code == 409
    assert (await client.post("/v1/folders/", json={"name": "other"})).status_code == 409
    moved = await client.patch(
        f"/v1/folders/{folder['id']}", json={"embedding_config": {**other["embedding_config"]}}
    )
    assert moved.status_code == 400 and "embedding" in moved.json()["detail"]

    assert (await client.delete(f"/v1/folders/{folder['id']}")).status_code == 200
    assert (await client.get(f"/v1/folders/{folder['id']}")).status_code == 404
    assert [f["name"] for f in (await client.get("/v1/folders/")).json()] == ["other"]


SAMPLES = [
    ("notes.txt", b"Meeting notes.\n\nThe launch moves to March.\n", "text/plain", "launch moves to March"),
    ("guide.md", MARKDOWN, "text/markdown", "25 days of paid leave"),
    ("page.html", b"<h1>FAQ</h1><p>Refunds take <b>five</b> days.</p>", "text/html",
     "Refunds take five days."),
    ("data.json", json.dumps({"planet": "Mars", "moons": 2}).encode(), "application/json",
     '"planet": "Mars"'),
    ("rows.csv", b"name,team\nAnn,red\nBob,blue\n", "text/csv", "name,team\nAnn,red\nBob,blue"),
    ("report.pdf", make_pdf([["Quarterly report"], ["Revenue grew by ten percent."]]), "application/pdf",
     "Revenue grew by ten percent."),
    ("memo.docx", make_docx([("Heading1", "Memo"), ("", "Parking closes Friday.")]),
     "application/octet-stream", "Parking closes Friday."),
]  # fmt: skip


@pytest.mark.parametrize(("name", "data", "mime", "expected"), SAMPLES, ids=[s[0] for s in SAMPLES])
async def test_upload_of_each_type_yields_its_text_and_chunks(
    client: httpx.AsyncClient, app: FastAPI, name: str, data: bytes, mime: str, expected: str
) -> None:
    folder = await make_folder(client)
    response = await upload(client, folder["id"], name, data, mime)
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["id"].startswith("file-")
    assert created["processing_status"] in ("pending", "parsing", "embedding", "completed")
    assert (created["file_name"], created["source_id"], created["file_size"]) == (
        name,
        folder["id"],
        len(data),
    )

    done = await processed(client, folder["id"], created["id"])
    assert done["processing_status"] == "completed", done["error_message"]
    assert expected in done["content"]
    stored = chunks(app, folder["id"])
    assert len(stored) == done["total_chunks"] == done["chunks_embedded"] >= 1
    assert {file_id for file_id, _ in stored} == {created["id"]}
    assert any(expected in text for _, text in stored)


async def test_chunks_are_searchable_through_the_folder_archive(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    folder = await make_folder(client)
    for name, body in [("a.md", MARKDOWN), ("b.txt", b"The cafeteria serves soup on Tuesdays.\n")]:
        file = (await upload(client, folder["id"], name, body)).json()
        await processed(client, folder["id"], file["id"])
    archive = (await client.get("/v1/archives/", params={"name": "folder docs"})).json()[0]
    hits = (
        await client.post(
            "/v1/passages/search", json={"query": "paid leave days", "archive_id": archive["id"]}
        )
    ).json()
    assert "25 days of paid leave" in hits[0]["passage"]["text"]


async def test_duplicate_names_error_skip_suffix_and_replace(client: httpx.AsyncClient, app: FastAPI) -> None:
    folder = await make_folder(client)
    fid = folder["id"]
    first = (await upload(client, fid, "doc.txt", b"Old text about apples.\n\nMore apples.")).json()
    await processed(client, fid, first["id"])

    refused = await upload(client, fid, "doc.txt", b"other", duplicate_handling="error")
    assert refused.status_code == 409 and "doc.txt" in refused.json()["detail"]

    skipped = await upload(client, fid, "doc.txt", b"other", duplicate_handling="skip")
    assert skipped.json()["id"] == first["id"]

    suffixed = (await upload(client, fid, "doc.txt", b"Pears.", duplicate_handling="suffix")).json()
    assert suffixed["file_name"] == "doc (1).txt"
    await processed(client, fid, suffixed["id"])

    replaced = (
        await upload(client, fid, "doc.txt", b"New text about bananas.", duplicate_handling="replace")
    ).json()
    assert replaced["file_name"] == "doc.txt" and replaced["id"] != first["id"]
    await processed(client, fid, replaced["id"])
    stored = chunks(app, fid)
    assert {f for f, _ in stored} == {replaced["id"], suffixed["id"]}
    assert not any("apples" in text for _, text in stored)  # no stale chunk of the replaced file
    names = sorted(f["file_name"] for f in (await client.get(f"/v1/folders/{fid}/files")).json())
    assert names == ["doc (1).txt", "doc.txt"]
    assert (await client.get(f"/v1/folders/{fid}/files/{first['id']}")).status_code == 404


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog", "cannot read the PDF"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "unsupported file type"),
        ("bad.json", b"[1, 2", "invalid JSON"),
    ],
)
async def test_corrupt_or_unsupported_file_ends_in_error_with_nothing_stored(
    client: httpx.AsyncClient, app: FastAPI, name: str, data: bytes, reason: str
) -> None:
    folder = await make_folder(client)
    response = await upload(client, folder["id"], name, data)
    assert response.status_code == 200
    done = await processed(client, folder["id"], response.json()["id"])
    assert done["processing_status"] == "error"
    assert reason in done["error_message"]
    assert done["content"] is None and done["chunks_embedded"] == 0
    assert chunks(app, folder["id"]) == []


async def test_embedding_failure_part_way_leaves_no_chunks(
    client: httpx.AsyncClient, app: FastAPI, registry: ModelRegistry
) -> None:
    class FailingSecondBatch(LocalHashEmbedder):
        calls = 0

        async def embed(self, texts: list[str]) -> list[list[float]]:
            self.calls += 1
            if self.calls > 1:
                raise ValueError("embedding service went away")
            return self.embed_sync(texts)

    registry._embedders[ModelHandle.parse("local/hash-384")] = FailingSecondBatch()
    app.state.file_ingestion.batch_size = 1
    folder = await make_folder(client)
    file = (await upload(client, folder["id"], "a.md", MARKDOWN)).json()
    done = await processed(client, folder["id"], file["id"])
    assert done["processing_status"] == "error"
    assert "embedding service went away" in done["error_message"]
    assert chunks(app, folder["id"]) == []


async def test_status_progresses_while_batches_are_embedded(
    client: httpx.AsyncClient, app: FastAPI, registry: ModelRegistry
) -> None:
    gate = asyncio.Event()

    class GatedEmbedder(LocalHashEmbedder):
        calls = 0

        async def embed(self, texts: list[str]) -> list[list[float]]:
            self.calls += 1
            if self.calls > 1:
                await gate.wait()
            return self.embed_sync(texts)

    registry._embedders[ModelHandle.parse("local/hash-384")] = GatedEmbedder()
    app.state.file_ingestion.batch_size = 1
    folder = await make_folder(client)
    file = (await upload(client, folder["id"], "a.md", MARKDOWN)).json()
    assert file["processing_status"] == "pending"  # the request did not wait for the job
    for _ in range(500):
        midway = (await client.get(f"/v1/folders/{folder['id']}/files/{file['id']}")).json()
        if midway["chunks_embedded"] == 1:
            break
        await asyncio.sleep(0.01)
    assert midway["processing_status"] == "embedding"
    assert midway["total_chunks"] == 2 and midway["chunks_embedded"] == 1
    gate.set()
    done = await processed(client, folder["id"], file["id"])
    assert (done["processing_status"], done["chunks_embedded"]) == ("completed", 2)


async def test_delete_file_and_folder_remove_their_chunks(client: httpx.AsyncClient, app: FastAPI) -> None:
    folder = await make_folder(client)
    keep = (await upload(client, folder["id"], "keep.txt", b"Keep me.")).json()
    drop = (await upload(client, folder["id"], "drop.txt", b"Drop me.")).json()
    for file in (keep, drop):
        await processed(client, folder["id"], file["id"])
    assert (await client.delete(f"/v1/folders/{folder['id']}/{drop['id']}")).status_code == 204
    assert [f for f, _ in chunks(app, folder["id"])] == [keep["id"]]
    assert (await client.delete(f"/v1/folders/{folder['id']}/{drop['id']}")).status_code == 404
    listed = (await client.get(f"/v1/folders/{folder['id']}/files")).json()
    assert [f["id"] for f in listed] == [keep["id"]] and listed[0]["content"] is None

    archives_before = len((await client.get("/v1/archives/")).json())
    assert (await client.delete(f"/v1/folders/{folder['id']}")).status_code == 200
    assert len((await client.get("/v1/archives/")).json()) == archives_before - 1
    assert (await client.get(f"/v1/folders/{folder['id']}/files")).status_code == 404


async def test_unknown_folder_and_bad_input_get_4xx(client: httpx.AsyncClient) -> None:
    missing = await upload(client, "source-00000000-0000-0000-0000-000000000000", "a.txt", b"x")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found" and "folder" in missing.json()["detail"]
    assert (await client.post("/v1/folders/", json={"name": ""})).status_code == 422
    folder = await make_folder(client)
    bad = await upload(client, folder["id"], "a.txt", b"x", duplicate_handling="overwrite")
    assert bad.status_code == 422
    no_file = await client.post(f"/v1/folders/{folder['id']}/upload")
    assert no_file.status_code == 422


async def test_a_file_deleted_while_processing_gets_no_more_chunks(
    client: httpx.AsyncClient, app: FastAPI, registry: ModelRegistry
) -> None:
    gate = asyncio.Event()

    class GatedEmbedder(LocalHashEmbedder):
        calls = 0

        async def embed(self, texts: list[str]) -> list[list[float]]:
            self.calls += 1
            if self.calls > 1:
                await gate.wait()
            return self.embed_sync(texts)

    registry._embedders[ModelHandle.parse("local/hash-384")] = GatedEmbedder()
    app.state.file_ingestion.batch_size = 1
    folder = await make_folder(client)
    file = (await upload(client, folder["id"], "a.md", MARKDOWN)).json()
    for _ in range(500):
        if len(chunks(app, folder["id"])) == 1:
            break
        await asyncio.sleep(0.01)
    assert (await client.delete(f"/v1/folders/{folder['id']}/{file['id']}")).status_code == 204
    gate.set()
    await app.state.file_ingestion.wait()
    assert chunks(app, folder["id"]) == []
    assert (await client.get(f"/v1/folders/{folder['id']}/files")).json() == []


async def test_upload_name_overrides_the_file_name_and_paths_are_dropped(client: httpx.AsyncClient) -> None:
    folder = await make_folder(client)
    renamed = (await upload(client, folder["id"], "draft.md", MARKDOWN, name="final.md")).json()
    assert (renamed["file_name"], renamed["original_file_name"]) == ("final.md", "draft.md")
    nested = (await upload(client, folder["id"], "../../etc/notes.txt", b"Plain.")).json()
    assert nested["file_name"] == "notes.txt"
    assert (await processed(client, folder["id"], nested["id"]))["processing_status"] == "completed"
