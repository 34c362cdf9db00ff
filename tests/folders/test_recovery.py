"""A file left unfinished by a stopped server ends in `error` at the next start, with no chunks."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from memfold.folders.ingest import INTERRUPTED, recover_files
from memfold.store import folders as folder_rows
from tests.folders.helpers import chunks, make_folder, processed, upload


async def test_unfinished_files_end_in_error_and_lose_partial_chunks(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    folder = await make_folder(client)
    done = (await upload(client, folder["id"], "done.txt", b"Finished file.")).json()
    await processed(client, folder["id"], done["id"])
    cut = (await upload(client, folder["id"], "cut.txt", b"Cut short.")).json()
    await processed(client, folder["id"], cut["id"])
    db = app.state.memfold.db
    archival = app.state.memfold.loop.external.archival
    with db.write() as conn:  # as if the server had died mid-way through `cut.txt`
        folder_rows.update_file(conn, cut["id"], processing_status="embedding", chunks_embedded=1)
    assert {f for f, _ in chunks(app, folder["id"])} == {done["id"], cut["id"]}

    assert recover_files(db, archival) == 1

    after = (await client.get(f"/v1/folders/{folder['id']}/files/{cut['id']}")).json()
    assert (after["processing_status"], after["error_message"]) == ("error", INTERRUPTED)
    assert [f for f, _ in chunks(app, folder["id"])] == [done["id"]]
    kept = (await client.get(f"/v1/folders/{folder['id']}/files/{done['id']}")).json()
    assert kept["processing_status"] == "completed"
    assert recover_files(db, archival) == 0
