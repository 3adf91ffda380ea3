"""The contract: FLORA's official OpenAPI documents plus the SDK-derived one, via openapi-core.

A recorded :class:`~flora_emulator.Exchange` names its route template (the spec's own
path templates), which picks the operation's document; the request is then replayed to
openapi-core as if it had been sent to the spec's server (``https://app.flora.ai/api/v1``),
so the emulator's ``http://127.0.0.1:PORT/api/v1`` maps onto the spec's paths.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from flora_emulator import Exchange

OFFICIAL_DIR = (Path(__file__).parents[2] / "../shared/flora-api/openapi").resolve()
DERIVED = Path(__file__).parent / "schemas" / "derived-from-sdk.yml"
SPEC_HOST = "https://app.flora.ai"  # the spec's server is https://app.flora.ai/api/v1
# The official documents that describe the operations floradrop uses.
OFFICIAL_DOCUMENTS = (
    "flora-fauna-workspaces-api-openapi.yml",
    "flora-fauna-techniques-api-openapi.yml",
    "flora-fauna-technique-runs-api-openapi.yml",
    "flora-fauna-runs-api-openapi.yml",
    "flora-fauna-assets-api-openapi.yml",
)
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str  # upper case
    template: str  # the spec path, e.g. /techniques/{techniqueId}/runs
    document: str  # file name of the document that declares it
    derived: bool  # from derived-from-sdk.yml rather than an official document
    request_types: frozenset[str]  # request body media types ('' when it has no body)
    api: OpenAPI


class Contract:
    """Every operation of the loaded documents, and validation of recorded exchanges."""

    def __init__(self, documents: list[tuple[Path, bool]]) -> None:
        self.operations: list[Operation] = []
        for path, derived in documents:
            spec = yaml.safe_load(path.read_text(encoding="utf-8"))
            api = OpenAPI.from_dict(spec)
            for template, item in spec["paths"].items():
                for method in METHODS:
                    if method not in item:
                        continue
                    body = item[method].get("requestBody") or {}
                    types = frozenset(body.get("content", {})) or frozenset({""})
                    self.operations.append(
                        Operation(method.upper(), template, path.name, derived, types, api)
                    )

    def find(self, method: str, template: str, content_type: str = "") -> Operation:
        """The operation for a request (by its body media type when two documents share a
        path, as official JSON and derived multipart ``POST /assets`` do)."""
        media = content_type.split(";", 1)[0].strip().lower()
        candidates = [o for o in self.operations if (o.method, o.template) == (method, template)]
        if not candidates:
            raise LookupError(f"no document declares {method} {template}")
        for operation in candidates:
            if media in operation.request_types or (not media and "" in operation.request_types):
                return operation
        return candidates[0]

    def operation_of(self, exchange: Exchange) -> Operation:
        assert exchange.kind == "api" and exchange.route is not None, exchange
        return self.find(
            exchange.method, exchange.route, exchange.request_headers.get("content-type", "")
        )

    def request_of(self, exchange: Exchange) -> MockRequest:
        return MockRequest(
            SPEC_HOST,
            exchange.method.lower(),
            exchange.path,
            args={k: list(v) for k, v in exchange.query.items()},
            headers=dict(exchange.request_headers),
            data=exchange.request_body or b"",
            content_type=exchange.request_headers.get("content-type", ""),
        )

    def validate_request(self, exchange: Exchange) -> None:
        """Raise openapi-core's error if the request breaks the contract."""
        with _spec_warnings_ignored():
            self.operation_of(exchange).api.validate_request(self.request_of(exchange))

    def validate_response(self, exchange: Exchange) -> None:
        """Raise openapi-core's error if the response breaks the contract."""
        assert exchange.status is not None, f"no response was sent for {exchange.path}"
        response = MockResponse(
            exchange.response_body or b"",
            status_code=exchange.status,
            headers=dict(exchange.response_headers),
            content_type=exchange.response_headers.get("content-type", ""),
        )
        with _spec_warnings_ignored():
            self.operation_of(exchange).api.validate_response(self.request_of(exchange), response)


@contextmanager
def _spec_warnings_ignored() -> Iterator[None]:
    """The official documents use ``allowEmptyValue``, which openapi-core calls deprecated."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Use of allowEmptyValue", DeprecationWarning)
        yield


@functools.cache
def load() -> Contract:
    """The official documents (those floradrop uses) plus the derived one, loaded once."""
    documents = [(OFFICIAL_DIR / name, False) for name in OFFICIAL_DOCUMENTS]
    return Contract([*documents, (DERIVED, True)])


def official_available() -> bool:
    return all((OFFICIAL_DIR / name).is_file() for name in OFFICIAL_DOCUMENTS)
