"""/v1/groups: the sleep-time groups that `enable_sleeptime` creates (list, retrieve, modify, delete).

Groups are made by creating or modifying an agent with `enable_sleeptime=true`, not here: memfold has
no other kind of group, so `POST /v1/groups` does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from memfold.agent import sleeptime
from memfold.errors import BadRequestError
from memfold.schemas.groups import Group, GroupUpdate, ManagerType
from memfold.server.deps import Context, OrgId
from memfold.store import groups as group_rows
from memfold.store.paging import Order

router = APIRouter(prefix="/v1/groups", tags=["groups"])


@router.get("/", response_model=list[Group])
def list_groups(
    ctx: Context,
    org: OrgId,
    manager_type: ManagerType | None = None,
    before: str | None = None,
    after: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = 50,
    order: Order = "desc",
) -> list[Group]:
    with ctx.db.read() as conn:
        found = group_rows.list_groups(
            conn, org, manager_type=manager_type, before=before, after=after, limit=limit, order=order
        )
        return sleeptime.group_views(conn, found)


@router.get("/{group_id}", response_model=Group)
def retrieve_group(group_id: str, ctx: Context, org: OrgId) -> Group:
    with ctx.db.read() as conn:
        return sleeptime.group_views(conn, [group_rows.get_group(conn, org, group_id)])[0]


@router.patch("/{group_id}", response_model=Group)
def modify_group(group_id: str, body: GroupUpdate, ctx: Context, org: OrgId) -> Group:
    """Change a sleep-time group's description or `manager_config.sleeptime_agent_frequency`."""
    with ctx.db.write() as conn:
        group = group_rows.get_group(conn, org, group_id)
        config = body.manager_config
        if body.agent_ids is not None and body.agent_ids != [group.sleeptime_agent_id]:
            raise BadRequestError(
                "a sleep-time group's agents cannot be changed; set enable_sleeptime=false and then true "
                "on the main agent to give it a new sleep-time agent"
            )
        if config is not None and config.manager_agent_id not in (None, group.manager_agent_id):
            raise BadRequestError("a sleep-time group's manager_agent_id cannot be changed")
        if body.shared_block_ids is not None:
            raise BadRequestError(
                "a sleep-time group shares the main agent's blocks; attach or detach blocks on the main agent"
            )
        values: dict[str, Any] = {}
        if body.description is not None:
            values["description"] = body.description
        if config is not None and config.sleeptime_agent_frequency is not None:
            values["sleeptime_agent_frequency"] = config.sleeptime_agent_frequency
        if values:
            group_rows.update_group(conn, group.id, values)
        return sleeptime.group_views(conn, [group_rows.get_group(conn, org, group_id)])[0]


@router.delete("/{group_id}")
def delete_group(group_id: str, ctx: Context, org: OrgId) -> dict[str, Any]:
    """Delete the group and its sleep-time agent (as `enable_sleeptime=false` on the main agent)."""
    with ctx.db.write() as conn:
        group = group_rows.get_group(conn, org, group_id)
        sleeptime.disable(conn, org, group.manager_agent_id)
    return {"id": group_id, "deleted": True}
