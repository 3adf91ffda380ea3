"""``GET /workspaces``, ``GET /techniques`` and ``GET /techniques/{slugOrId}``."""

from __future__ import annotations

from flora_emulator import params
from flora_emulator.catalog import TECHNIQUES, find
from flora_emulator.context import Context
from flora_emulator.wire import Request, Response, not_found

WORKSPACE_NAME = "Emulator Workspace"


def list_workspaces(ctx: Context, req: Request) -> Response:
    workspace = {
        "workspace_id": ctx.workspace_id,
        "name": WORKSPACE_NAME,
        "created_at": round(ctx.created_at * 1000),
        "role": "owner",
    }
    return Response.json(200, {"workspaces": [workspace]})


def list_techniques(ctx: Context, req: Request) -> Response:
    params.workspace(ctx, req.arg("workspace_id"))
    query = (req.arg("query") or "").strip().lower()
    matching = [
        t
        for t in TECHNIQUES
        if not query or any(query in s.lower() for s in (t.slug, t.name, t.description))
    ]
    chunk, next_cursor = params.paged(req, matching)
    return Response.json(
        200,
        {
            "techniques": [t.to_api() for t in chunk],
            "meta": {"next_cursor": next_cursor, "total_estimate": len(matching)},
        },
    )


def get_technique(ctx: Context, req: Request) -> Response:
    technique = find(params.path_param(req, "techniqueId"))
    if technique is None:
        raise not_found("Technique")
    return Response.json(200, technique.to_api())
