"""yagna's REST API on a provider's host (127.0.0.1:7465, reference/golem-provider.md §5.3):
/version/get without a key; /me, /healthcheck and the provider's own offers with
`Authorization: Bearer <app-key>`, 401 without one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.sim.http import Request, Response, Router, json_response, text_response

if TYPE_CHECKING:
    from console.sim.node import SimNode


def golem_router(node: SimNode) -> Router:
    r = Router()

    def authorized(req: Request) -> Response | None:
        header = req.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return text_response("Missing application key", 401)
        key = header.removeprefix("Bearer ").strip()
        if not any(k["key"] == key for k in node.golem.app_keys()):
            return text_response("Invalid application key", 401)
        return None

    def version(req: Request) -> Response:
        core = (node.golem.installed() or {}).get("core", "?")
        current = {"version": core, "name": f"v{core}", "seen": False}
        return json_response({"current": current, "pending": None})

    def me(req: Request) -> Response:
        refused = authorized(req)
        if refused:
            return refused
        key = req.headers["authorization"].removeprefix("Bearer ").strip()
        name = next(k["name"] for k in node.golem.app_keys() if k["key"] == key)
        return json_response({"identity": node.golem.identity(), "name": name, "role": "manager"})

    def healthcheck(req: Request) -> Response:
        refused = authorized(req)
        if refused:
            return refused
        status, body = node.golem.healthcheck()
        return json_response(body, status)

    def offers(req: Request) -> Response:
        return authorized(req) or json_response(node.golem.offers)

    r.add("GET", "/version/get", version)
    r.add("GET", "/me", me)
    r.add("GET", "/healthcheck", healthcheck)
    r.add("GET", "/market-api/v1/offers", offers)
    return r
