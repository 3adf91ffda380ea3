"""The route table and what happens to an API request before and after its endpoint.

API routes use the spec's path templates (``/techniques/{techniqueId}/runs``), so a
recorded exchange names the OpenAPI operation it belongs to. Order for an API request:
latency, connection reset (fault), authentication, rate limit (fault), server error
(fault), the endpoint, lost response (fault). Faults injected before the endpoint leave no
trace (an idempotency key stays unused, as FLORA releases keys on 5xx).
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote

from flora_emulator import api_assets, api_catalog, api_runs, hosts
from flora_emulator.context import Context
from flora_emulator.recording import Kind
from flora_emulator.wire import ApiError, Request, Response

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
Endpoint = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    kind: Kind
    methods: tuple[str, ...]
    template: str
    endpoint: Endpoint
    pattern: re.Pattern[str]


def _route(kind: Kind, methods: str, template: str, endpoint: Endpoint) -> Route:
    path = (API_PREFIX if kind == "api" else "") + template
    parts = re.split(r"(\{\w+\})", path)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return Route(kind, tuple(methods.split()), template, endpoint, re.compile(f"^{regex}$"))


ROUTES: tuple[Route, ...] = (
    _route("api", "GET", "/workspaces", api_catalog.list_workspaces),
    _route("api", "GET", "/techniques", api_catalog.list_techniques),
    _route("api", "GET", "/techniques/{techniqueId}", api_catalog.get_technique),
    _route("api", "POST", "/techniques/{techniqueId}/runs", api_runs.create_nested),
    _route("api", "GET", "/techniques/{techniqueId}/runs/{runId}", api_runs.get_nested_run),
    _route("api", "POST", "/runs/technique", api_runs.create_top_level),
    _route("api", "GET", "/runs/{runId}", api_runs.get_run),
    _route("api", "GET", "/technique-runs", api_runs.list_technique_runs),
    _route("api", "GET", "/assets", api_assets.list_assets),
    _route("api", "POST", "/assets", api_assets.create),
    _route("api", "GET", "/assets/{assetId}", api_assets.get),
    _route("api", "POST", "/assets/{assetId}/complete", api_assets.complete),
    _route("api", "POST", "/assets/{assetId}/retry", api_assets.retry),
    _route("storage", "POST PUT", "/_storage/upload/{token}", hosts.upload),
    _route("media", "GET HEAD", "/_media/{owner}/{name}", hosts.media),
)


@dataclass(frozen=True)
class Match:
    kind: Kind
    route: Route | None  # None: an API path with no such operation
    params: dict[str, str]


def match(method: str, path: str) -> Match | None:
    """The route for a request; ``None`` for a path outside the API and the two hosts."""
    kind: Kind | None = None
    for route in ROUTES:
        found = route.pattern.match(path)
        if found is None:
            continue
        kind = route.kind
        if method in route.methods:
            return Match(route.kind, route, {k: unquote(v) for k, v in found.groupdict().items()})
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        kind = "api"
    return None if kind is None else Match(kind, None, {})


class DropConnectionError(Exception):
    """Close the connection without answering (an injected fault)."""

    def __init__(self, fault: str) -> None:
        super().__init__(fault)
        self.fault = fault


class Server(Context, Protocol):
    """What the pipeline needs from the emulator: :class:`Context` plus the fault knobs."""

    api_key: str
    latency_ms: float
    reset_rate: float
    lose_response_rate: float
    rate_limit_rate: float
    error_rate: float
    retry_after_seconds: float

    def sleep(self, seconds: float) -> None:
        """Wait, but return early when the emulator stops."""
        ...


def handle_api(ctx: Server, req: Request, found: Match) -> Response:
    """Run an API request through faults, auth and its endpoint.

    Raises :class:`DropConnectionError` when a fault says to answer nothing.
    """
    if ctx.latency_ms > 0:
        ctx.sleep(ctx.latency_ms / 1000)
    # Every kind is drawn on every request, so one knob never shifts another's draws.
    reset = ctx.decide("reset", ctx.reset_rate)
    limited = ctx.decide("rate_limit", ctx.rate_limit_rate)
    errored = ctx.decide("error", ctx.error_rate)
    lost = ctx.decide("lose_response", ctx.lose_response_rate)
    if reset:
        ctx.stats.count_fault("reset")
        raise DropConnectionError("reset")
    try:
        _authenticate(ctx, req)
        if limited:
            ctx.stats.count_fault("rate_limit")
            raise ApiError(
                429,
                "rate_limited",
                "Rate limit exceeded.",
                headers={"retry-after": _seconds(ctx.retry_after_seconds)},
            )
        if errored:
            ctx.stats.count_fault("error")
            raise ApiError(500, "unknown_error", "An unknown error occurred.")
        if found.route is None:
            raise ApiError(404, "not_found", f"No route for {req.method} {req.path}.")
        response = found.route.endpoint(ctx, req)
    except ApiError as error:
        return Response.error(error)
    except (ConnectionError, DropConnectionError):
        raise
    except Exception:
        ctx.report_crash(f"endpoint {req.method} {req.path} crashed")
        return Response.error(ApiError(500, "unknown_error", "An unknown error occurred."))
    if lost:
        ctx.stats.count_fault("lose_response")
        raise DropConnectionError("lose_response")
    return response


def _authenticate(ctx: Server, req: Request) -> None:
    header = req.header("authorization")
    if not header:
        raise ApiError(
            401,
            "unauthorized",
            "Missing API key. Send it as 'Authorization: Bearer <key>'.",
        )
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(key.encode(), ctx.api_key.encode()):
        raise ApiError(401, "invalid_api_key", "Invalid API key.")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
