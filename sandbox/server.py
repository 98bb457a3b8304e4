"""The sandbox server: one FastAPI app hosting every provider's simulator under `/<provider>`.

Sandbox option `record_traffic` keeps every provider exchange in `state.store["traffic"]` (the conformance suite
replays the project's own pipelines through it). Control endpoints under `/_sandbox` let tests, the demo and benchmarks read statistics, inject faults and advance
the world. `SandboxServer` runs it on a free loopback port in a background thread (cheap enough for every test).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import QueryParams
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipelines.registry import integrations
from sandbox.common.routing import RouteCache
from sandbox.common.simulator import load_simulator
from sandbox.common.state import SandboxState
from sandbox.world import World

log = logging.getLogger("sandbox")


def _mutate_records(payload: Any, mutate: Any) -> Any:
    """Apply `mutate` to every JSON object that looks like a record (has an `id`)."""
    if isinstance(payload, dict):
        if "id" in payload:
            mutate(payload)
        for value in payload.values():
            _mutate_records(value, mutate)
    elif isinstance(payload, list):
        for item in payload:
            _mutate_records(item, mutate)
    return payload


def _apply_body_fault(kind: str, params: dict[str, Any], body: bytes) -> bytes:
    if kind == "malformed":
        return body[: max(1, len(body) // 2)]  # truncated JSON, as a dropped connection mid-body would give
    data = json.loads(body)
    if kind == "unknown_field":
        name = params.get("field", "x_sandbox_new_field")
        _mutate_records(data, lambda r: r.__setitem__(name, params.get("value", "surprise")))
    elif kind == "type_change":
        field = params["field"]

        def change(obj: Any) -> None:
            # Every object that has the field, records or not (JSON:API keeps fields in `attributes`).
            if isinstance(obj, dict):
                if field in obj:
                    value = obj[field]
                    obj[field] = {"unexpected": value} if not isinstance(value, dict) else str(value)
                for value in obj.values():
                    change(value)
            elif isinstance(obj, list):
                for item in obj:
                    change(item)

        change(data)
    return json.dumps(data).encode()


async def _sleep(seconds: float) -> None:
    if seconds:
        await asyncio.sleep(seconds)


def _record(state: SandboxState, provider: str, scope: Scope, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    """Keep the exchange for the conformance suite (`sandbox.common.conformance.Exchange.from_record`)."""
    record = {
        "provider": provider,
        "method": scope["method"],
        "path": scope["path"].removeprefix(f"/{provider}"),
        "query": list(QueryParams(scope["query_string"]).multi_items()),
        "status": status,
        "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in headers},
        "body": body.decode("utf-8", "replace"),
    }
    with state.lock:
        state.store.setdefault("traffic", []).append(record)


class ProviderTraffic:
    """Statistics, injected faults, traffic recording and simulated latency for every request under `/<provider>`.

    Pure ASGI rather than `@app.middleware("http")`: Starlette's `BaseHTTPMiddleware` streams every response through
    a memory channel and extra tasks, which cost the sandbox more CPU per request than most simulators' handlers.
    The response passes straight through unless a body fault or `record_traffic` needs its bytes.
    """

    def __init__(self, app: ASGIApp, state: SandboxState, mounts: dict[str, Mount]) -> None:
        # `mounts` is the app's own dict, filled as the providers are mounted (after this middleware is added).
        self.app, self.state, self.mounts = app, state, mounts

    async def _provider(self, provider: str, scope: Scope, receive: Receive, send: Send) -> None:
        """The provider's own app, as the sandbox's router would reach it through its mount (the router's loop over
        the control routes and the sandbox app's exception and exit-stack layers are no part of a provider's request:
        the provider's app has its own). A path its mount does not match (`/klaviyo` without a slash) goes the
        router's way."""
        mount = self.mounts[provider]
        match, child_scope = mount.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        scope["route"] = mount
        scope.update(child_scope)
        await mount.handle(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        provider = scope["path"].split("/", 2)[1] if scope["type"] == "http" else ""
        if provider not in self.mounts:
            await self.app(scope, receive, send)
            return
        state = self.state
        stats = state.stats[provider]
        now = time.time()
        with state.lock:
            stats.requests += 1
            stats.first_at = stats.first_at or now
            stats.last_at = now
        # The simulated network latency is spent after the simulator has seen the request: its rate limits count a
        # request when it arrives, so a client pacing exactly at the limit is not punished by the sandbox's jitter.
        delay = state.latency_seconds()
        fault = state.take_fault(provider, scope["path"])
        if fault and fault.kind == "5xx":
            status = int(fault.params.get("status", 503))
            stats.by_status[status] += 1
            await _sleep(delay)
            await JSONResponse({"errors": "Service temporarily unavailable (sandbox fault)"}, status_code=status)(scope, receive, send)
            return
        if fault and fault.kind == "429":
            stats.by_status[429] += 1
            retry_after = str(fault.params.get("retry_after", 1))
            await _sleep(delay)
            await JSONResponse({"errors": "Too many requests (sandbox fault)"}, status_code=429, headers={"Retry-After": retry_after})(scope, receive, send)
            return
        if fault and fault.kind == "slow":
            await asyncio.sleep(float(fault.params.get("seconds", 5)))
        body_fault = fault.kind if fault and fault.kind in ("malformed", "unknown_field", "type_change") else None
        record = bool(state.options.get("record_traffic"))

        if not body_fault and not record:

            async def send_through(message: Message) -> None:
                if message["type"] == "http.response.start":
                    stats.by_status[message["status"]] += 1
                    await _sleep(delay)  # the response is ready (a Response renders its body first); the network is not
                await send(message)

            await self._provider(provider, scope, receive, send_through)
            return

        start: Message = {}
        chunks: list[bytes] = []

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self._provider(provider, scope, receive, keep)
        status, headers, body = start["status"], list(start.get("headers", [])), b"".join(chunks)
        stats.by_status[status] += 1
        if body_fault:
            assert fault is not None
            body = _apply_body_fault(body_fault, fault.params, body)
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"content-length", str(len(body)).encode())]
        if record:
            _record(state, provider, scope, status, headers, body)
        await _sleep(delay)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def create_app(state: SandboxState) -> FastAPI:
    app = FastAPI(title="opsdata sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = state
    simulators = {i.name: load_simulator(i.sandbox) for i in integrations()}
    mounts: dict[str, Mount] = {}
    app.add_middleware(ProviderTraffic, state=state, mounts=mounts)

    @app.get("/_sandbox/health")
    def health() -> dict[str, Any]:
        world = state.world
        return {"ok": True, "seed": world.seed, "scale": world.scale.name, "now": world.now.isoformat(), "epoch": world.epoch}

    @app.get("/_sandbox/stats")
    def stats() -> dict[str, Any]:
        # `_process`: the simulator's own CPU time, so a benchmark can show the sandbox is not its bottleneck.
        return {name: s.as_dict() for name, s in state.stats.items()} | {"_process": {"cpu_seconds": time.process_time()}}

    @app.post("/_sandbox/stats/reset")
    def reset_stats() -> dict[str, bool]:
        state.reset_stats()
        return {"ok": True}

    @app.post("/_sandbox/faults")
    async def add_fault(request: Request) -> dict[str, bool]:
        spec = await request.json()
        state.add_fault(
            spec.pop("provider"), spec.pop("kind"), int(spec.pop("count", 1)), spec.pop("path_contains", None), int(spec.pop("skip", 0)), **spec
        )
        return {"ok": True}

    @app.delete("/_sandbox/faults")
    def clear_faults() -> dict[str, bool]:
        state.clear_faults()
        return {"ok": True}

    @app.post("/_sandbox/advance")
    def advance(days: float = 1.0) -> dict[str, Any]:
        now = state.world.advance(days)
        return {"now": now.isoformat(), "epoch": state.world.epoch}

    for name, simulator in simulators.items():
        provider_app = simulator.create_app(state)
        RouteCache.install(provider_app.router)
        app.mount(f"/{name}", provider_app)
        mounts[name] = next(r for r in app.router.routes if isinstance(r, Mount) and r.app is provider_app)
    return app


class SandboxServer:
    """Run the sandbox on a loopback port in a background thread: `with SandboxServer(scale="small") as sb:`."""

    def __init__(
        self,
        seed: int = 42,
        scale: str = "small",
        latency: str | tuple[float, float] = "zero",
        host: str = "127.0.0.1",
        port: int = 0,
        world: World | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self.state = SandboxState(world or World(seed=seed, scale=scale), latency=latency, options=options)
        self.app = create_app(self.state)
        self.host = host
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def world(self) -> World:
        return self.state.world

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread:
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
