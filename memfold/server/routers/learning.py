"""`POST /v1/agents/{id}/folders/{folder_id}/learn`: the agent learns from a folder in a background run.

memfold's own route (Letta has none). It answers at once with the run (`created`); the run's
`metadata.learning` shows the progress (`chunks_done`, `chunks_total`, `current_file`), and the
agent's cancel route (`/messages/cancel`) stops it after the chunk under way. See
memfold/folders/learning.py.
"""

from __future__ import annotations

from fastapi import APIRouter

from memfold.folders.learning import start_learning
from memfold.schemas.base import RequestModel
from memfold.schemas.runs import Run
from memfold.server.deps import Context, OrgId
from memfold.server.routers.runs import run_view
from memfold.store import runs as run_rows

router = APIRouter(prefix="/v1/agents/{agent_id}/folders/{folder_id}", tags=["agents"])


class LearnRequest(RequestModel):
    relearn: bool = False
    """Read every chunk again, including those the agent already learned from this folder (by default
    they are skipped, so starting again after a failed or cancelled learning resumes it)."""


@router.post("/learn", response_model=Run)
def learn_folder(
    agent_id: str, folder_id: str, ctx: Context, org: OrgId, body: LearnRequest | None = None
) -> Run:
    """Start a background run in which the agent reads the folder's chunks one at a time (files in upload
    order) and records what matters in its memory blocks and archival memory. The folder need not be
    attached to the agent. 409 while a file is still being processed or the agent is already learning
    this folder; 400 when the folder has no processed chunk."""
    with ctx.db.write() as conn:
        run_id = start_learning(conn, org, agent_id, folder_id, relearn=body is not None and body.relearn)
    ctx.workers.start(recover=False)  # wake the dispatcher
    with ctx.db.read() as conn:
        return run_view(run_rows.get_run(conn, org, run_id))
