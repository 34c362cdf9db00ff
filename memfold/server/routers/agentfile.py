"""Agent files: `GET /v1/agents/{agent_id}/export` and `POST /v1/agents/import` (multipart upload).

Both follow Letta's API as `letta-client` calls it (`client.agents.export_file` returns the
file's JSON text; `client.agents.import_file` uploads it as the form field `file`). The
import answers Letta's `{"agent_ids": [...]}` plus `skipped`: what of the file memfold left
out or changed (folders, groups, Letta built-in tools memfold lacks, an unavailable model).
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from memfold.agentfile import AgentFileImporter, ImportOptions, export_agent
from memfold.errors import BadRequestError, NotFoundError
from memfold.server.deps import Context, OrgId

router = APIRouter(prefix="/v1/agents", tags=["agents"])


class SkippedItem(BaseModel):
    kind: str = Field(
        description="file, source, group, mcp_server, tool, message, agent_type, model or embedding"
    )
    name: str
    reason: str


class ImportedAgentsResponse(BaseModel):
    agent_ids: list[str] = Field(description="The ids of the imported agents, in the file's order.")
    skipped: list[SkippedItem] = Field(
        default_factory=list, description="What memfold did not import as the file has it, and why."
    )


@router.get(
    "/{agent_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The agent file (.af) as JSON."}},
)
def export_agent_file(
    agent_id: str,
    ctx: Context,
    org: OrgId,
    scrub_messages: bool = False,
    use_legacy_format: bool = False,
    conversation_id: str | None = None,
    max_steps: int | None = None,
) -> Response:
    """The agent as an agent file, in the current format. `max_steps` is accepted and ignored."""
    if use_legacy_format:
        raise BadRequestError("the legacy single-agent format is not written (it is still read on import)")
    if conversation_id:
        raise NotFoundError(
            f"conversation {conversation_id!r} not found: memfold keeps one history per agent"
        )

    with ctx.db.read() as conn:
        document = export_agent(conn, org, agent_id, scrub_messages=scrub_messages)
    return Response(json.dumps(document, indent=2, ensure_ascii=False), media_type="application/json")


def _text(*values: str | None) -> str | None:
    """The first non-empty value (form fields arrive as empty strings when left blank)."""
    return next((v for v in values if v), None)


def _variables(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise BadRequestError("secrets (or env_vars_json) must be a JSON object of names to values")
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


@router.post("/import", response_model=ImportedAgentsResponse)
async def import_agent_file(
    ctx: Context,
    org: OrgId,
    file: Annotated[UploadFile, File(description="The agent file (.af).")],
    x_override_embedding_model: Annotated[str | None, Header(alias="x-override-embedding-model")] = None,
    append_copy_suffix: Annotated[bool, Form(description='Append "_copy" to the agent names.')] = False,
    override_existing_tools: Annotated[
        bool, Form(description="Replace the source of existing tools of the same name.")
    ] = True,
    strip_messages: Annotated[bool, Form(description="Import no messages.")] = False,
    secrets: Annotated[str | None, Form(description="JSON object: tool environment variables.")] = None,
    env_vars_json: Annotated[str | None, Form(description="Deprecated name of `secrets`.")] = None,
    name: Annotated[str | None, Form(description="Name of the imported agent(s).")] = None,
    override_name: Annotated[str | None, Form(description="Deprecated name of `name`.")] = None,
    model: Annotated[str | None, Form(description="Model handle for the imported agent(s).")] = None,
    override_model_handle: Annotated[str | None, Form(description="Deprecated name of `model`.")] = None,
    embedding: Annotated[str | None, Form(description="Embedding handle for the imported agent(s).")] = None,
    override_embedding_handle: Annotated[
        str | None, Form(description="Deprecated name of `embedding`.")
    ] = None,
    project_id: Annotated[
        str | None, Form(description="Accepted and ignored: memfold has no projects.")
    ] = None,
) -> ImportedAgentsResponse:
    """Create the agents of an agent file (either generation of the format), all or nothing."""
    options = ImportOptions(
        name=_text(name, override_name),
        append_copy_suffix=append_copy_suffix,
        model=_text(model, override_model_handle),
        embedding=_text(embedding, override_embedding_handle, x_override_embedding_model),
        override_existing_tools=override_existing_tools,
        strip_messages=strip_messages,
        env_vars=_variables(_text(secrets, env_vars_json)),
    )
    data = await file.read()
    importer = AgentFileImporter(ctx.db, ctx.models, ctx.loop.external.archival, ctx.settings)
    result = await importer.run(org, data, options)
    return ImportedAgentsResponse(
        agent_ids=result.agent_ids,
        skipped=[SkippedItem(kind=s.kind, name=s.name, reason=s.reason) for s in result.skipped],
    )
