"""Routing for the simulators' apps at a cost per request that does not depend on how many routes they have.

`RouteCache`: the sandbox server installs it on every simulator's router. `plain_route`: a simulator's endpoint that
takes the request (and its path parameters as strings) and returns a response needs nothing of FastAPI's per-request
machinery (dependency solving, body and parameter parsing, the exit stacks): registered as a Starlette route it
answers the same, and Klaviyo's pages spent a tenth of their CPU in that machinery.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from starlette._utils import get_route_path
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send

Endpoint = Callable[..., Awaitable[Response]]


class RouteCache:
    """A router's dispatch with the route each (method, path) reached remembered: Starlette tries the routes in order,
    a regex each, and a simulator's hot routes sit behind dozens of others (a Klaviyo events page tried 28; matching
    was a tenth of the sandbox's per-request CPU). Only a full match is remembered, and only the route: it matches
    the request again (its path parameters) and is handed the request as the router hands it. Anything else (no
    route, a method mismatch's 405, a slash redirect, lifespan) is the router's own dispatch."""

    LIMIT = 10_000
    """Distinct paths remembered before starting over (paths carry ids)."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.found: dict[tuple[str, str], BaseRoute | None] = {}
        self._routes = len(router.routes)

    @classmethod
    def install(cls, router: Router) -> None:
        router.middleware_stack = cls(router)

    def _first_full(self, scope: Scope) -> BaseRoute | None:
        for route in self.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if len(self.router.routes) != self._routes or len(self.found) >= self.LIMIT:
                self.found, self._routes = {}, len(self.router.routes)  # routes added since: learn again
            key = (scope["method"], get_route_path(scope))
            if key in self.found:
                route = self.found[key]
            else:
                route = self.found[key] = self._first_full(scope)
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # as `Router.app` does for the first route that fully matches
                    scope.setdefault("router", self.router)
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.router.app(scope, receive, send)


def plain_route(router: Router, paths: Iterable[str], methods: Iterable[str]) -> Callable[[Endpoint], Endpoint]:
    """A decorator: `endpoint(request, **path_params)` as a Starlette route at each of `paths`, in the router's order
    (after the routes already there, as FastAPI's `@app.get` adds them). Exceptions go to the app's handlers as a
    FastAPI route's do (Starlette's `request_response` wraps the endpoint the same way), and the route answers exactly
    `methods`: a Starlette GET route would also answer HEAD, which the real APIs (and FastAPI's routes) refuse."""
    allowed = set(methods)

    def register(endpoint: Endpoint) -> Endpoint:
        async def handle(request: Request) -> Any:
            return await endpoint(request, **request.path_params)

        handle.__name__ = handle.__qualname__ = endpoint.__name__
        for path in paths:
            route = Route(path, handle, methods=list(allowed))
            route.methods = set(allowed)  # without the HEAD Starlette adds to GET
            router.routes.append(route)
        return endpoint

    return register
