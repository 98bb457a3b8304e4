"""The routes a simulator's requests reach with the route cache (sandbox/common/routing.py) are the router's own: the
same page however often a path is asked, the router's 404, 405 and slash redirect where no route fully matches, and
Klaviyo's Starlette routes refuse HEAD as FastAPI's routes did."""

from __future__ import annotations

from starlette.routing import Match

from sandbox.common.routing import RouteCache
from sandbox.klaviyo import SANDBOX_CREDENTIALS
from sandbox.server import SandboxServer
from tests.helpers import http

HEADERS = {"Authorization": f"Klaviyo-API-Key {SANDBOX_CREDENTIALS['api_key']}", "revision": "2026-07-15"}


def first_full_match(router: object, method: str, path: str) -> object | None:
    scope = {"type": "http", "method": method, "path": f"/klaviyo{path}", "root_path": "/klaviyo", "path_params": {}}
    for route in router.routes:  # type: ignore[attr-defined]
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def test_cached_routes_are_the_routers_first_full_match(sandbox: SandboxServer) -> None:
    """Cached routes are the router's first full match; Klaviyo's page endpoints (called directly, `KlaviyoApp`) are
    the endpoint and path parameters that match would have called."""
    mount = next(r for r in sandbox.app.router.routes if getattr(r, "path", "") == "/klaviyo")
    router = mount.app.router
    cache = router.middleware_stack
    assert isinstance(cache, RouteCache)
    segment = sandbox.state.world.extension("klaviyo").groups[0].id
    paths = ["/api/events", "/api/events/", "/api/profiles", f"/api/segments/{segment}/profiles", f"/api/segments/{segment}", "/api/metrics"]
    for path in paths:
        first = http().get(f"{sandbox.url}/klaviyo{path}", headers=HEADERS, timeout=30)
        again = http().get(f"{sandbox.url}/klaviyo{path}", headers=HEADERS, timeout=30)
        assert first.status_code == again.status_code == 200, (path, first.text)
        assert first.content == again.content, path
        route = first_full_match(router, "GET", path)
        assert route is not None, path
        direct = mount.app.page_endpoint(path)  # a page endpoint Klaviyo's app calls without the router
        if direct is None:
            assert cache.found[("GET", path)] is route, path
        else:  # the endpoint, and its path parameters, the router would have called
            endpoint, params = direct
            scope = {"type": "http", "method": "GET", "path": f"/klaviyo{path}", "root_path": "/klaviyo", "path_params": {}}
            assert (endpoint.__name__, params) == (route.name, route.matches(scope)[1]["path_params"]), path
            assert ("GET", path) not in cache.found, path
    assert {p for p in paths if mount.app.page_endpoint(p) is None} == {f"/api/segments/{segment}", "/api/metrics"}


def test_no_full_match_is_the_routers_answer(sandbox: SandboxServer) -> None:
    for _ in range(2):  # asked again, once the cache has seen the path
        head = http().head(f"{sandbox.url}/klaviyo/api/events", headers=HEADERS, timeout=30)
        assert head.status_code == 405 and head.headers["allow"] == "GET"
        post = http().post(f"{sandbox.url}/klaviyo/api/events", headers=HEADERS, timeout=30)
        assert post.status_code == 400 and "not simulated" in post.json()["errors"][0]["detail"]  # the fallback route's
        missing = http().get(f"{sandbox.url}/klaviyo/api/no-such-thing", headers=HEADERS, timeout=30)
        assert missing.status_code == 404 and missing.json()["errors"][0]["code"] == "not_found"
        bare = http().get(f"{sandbox.url}/klaviyo", headers=HEADERS, timeout=30, follow_redirects=False)
        assert bare.status_code == 307 and bare.headers["location"].endswith("/klaviyo/")
