"""The merchant's approval queue as an HTTP JSON endpoint (the contract `notifications.approvals` reads).

`GET /v1/approvals?status=pending&limit=50&cursor=<opaque>` with `Authorization: Bearer <token>` answers
`{"data": [{id, kind, title, requested_at, requested_by, link}], "next_cursor": "..." | null, "as_of": "<world now>"}`,
oldest first (`as_of` is the queue's clock: the world's, in the sandbox).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.common.simulator import Simulator
from sandbox.common.state import SandboxState

from .world import ApprovalItem

# Public sandbox-only values, shaped unlike real keys so nobody (and no secret scanner) takes them for one.
SANDBOX_CREDENTIALS = {"api_token": "apq_sandbox_not_secret"}
MAX_LIMIT = 100


def pending_items(state: SandboxState) -> list[ApprovalItem]:
    """Ground truth for tests: the items pending as of the world's `now`."""
    world = state.world
    return [i for i in world.extension("approvals") if i.pending_at(world.now)]


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="Approval queue (sandbox)")

    @app.get("/v1/approvals")
    def list_approvals(request: Request, status: str = "pending", limit: int = 50, cursor: str | None = None) -> JSONResponse:
        if request.headers.get("authorization") != f"Bearer {SANDBOX_CREDENTIALS['api_token']}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if status != "pending":
            return JSONResponse({"error": "only status=pending is supported"}, status_code=400)
        if not 1 <= limit <= MAX_LIMIT:
            return JSONResponse({"error": f"limit must be between 1 and {MAX_LIMIT}"}, status_code=400)
        try:
            start = int(cursor or 0)
        except ValueError:
            return JSONResponse({"error": "invalid cursor"}, status_code=400)
        items = pending_items(state)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return JSONResponse({"data": [i.as_json() for i in page], "next_cursor": str(start + limit) if more else None,
                             "as_of": state.world.now.isoformat()})

    return app


SIMULATOR = Simulator(create_app, credentials={"url": "{base_url}/v1/approvals", "token": SANDBOX_CREDENTIALS["api_token"]})
