"""Helpers of the folder tests: upload, wait for processing, read a folder's stored chunks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from memfold.store import folders as folder_rows
from memfold.store import passages as passage_rows
from memfold.store.orgs import DEFAULT_ORG_ID

DONE = ("completed", "error")


async def make_folder(client: httpx.AsyncClient, name: str = "docs", **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/folders/", json={"name": name, **extra})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def upload(
    client: httpx.AsyncClient,
    folder_id: str,
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
    **params: str,
) -> httpx.Response:
    return await client.post(
        f"/v1/folders/{folder_id}/upload", files={"file": (filename, data, content_type)}, params=params
    )


async def processed(client: httpx.AsyncClient, folder_id: str, file_id: str) -> dict[str, Any]:
    """The file once its background job has ended (polled through the API, like a user would)."""
    for _ in range(500):
        response = await client.get(
            f"/v1/folders/{folder_id}/files/{file_id}", params={"include_content": True}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["processing_status"] in DONE:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"file {file_id} still {body['processing_status']}")


def chunks(app: FastAPI, folder_id: str) -> list[tuple[str, str]]:
    """(file id, text) of every chunk stored in the folder's archive, in order."""
    db = app.state.memfold.db
    with db.read() as conn:
        folder = folder_rows.get_folder(conn, DEFAULT_ORG_ID, folder_id)
        records = passage_rows.list_passages(conn, [folder.archive_id], limit=None)
    return [(str((p.metadata or {})["file_id"]), p.text) for p in records]
