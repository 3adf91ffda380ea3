"""The emulator: a local FLORA that tests, ``floradrop demo`` and ``floradrop emulator`` run.

    with Emulator(run_seconds=0.5, fail_rate=0.1, seed=7) as emu:
        client = FloraClient(base_url=emu.base_url, api_key=emu.api_key)
        ...
        assert emu.stats.runs_created == 1

Knobs are plain attributes read on every request, so a test may change them while the
emulator runs (``emu.error_rate = 1.0`` ... ``emu.error_rate = 0``). Fault decisions are
drawn from one seeded generator per fault kind, so a sequential test is reproducible for a
``seed``, and turning one fault on does not change the draws of another.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from flora_emulator import api_assets
from flora_emulator.handler import HTTPServer
from flora_emulator.recording import EmulatorStats, Exchange, RunRecord
from flora_emulator.state import State

log = logging.getLogger("flora_emulator")

DEFAULT_API_KEY = "sk_test_floradrop_emulator"
WORKERS = 2


class Emulator:
    """A FLORA API emulator on a background thread (see the module docstring)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = DEFAULT_API_KEY,
        seed: int = 0,
        run_seconds: float = 0.0,
        latency_ms: float = 0,
        error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        fail_rate: float = 0.0,
        data_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        record: list[Exchange] | None = None,
        reset_rate: float = 0.0,
        lose_response_rate: float = 0.0,
        upload_slow_ms: float = 0,
        reservation_seconds: float = 900.0,
        retry_after_seconds: float = 1.0,
        access_log: Callable[[str], None] | None = None,
        balance_usd: float | None = None,
        allow_private_fetch: bool = False,
    ) -> None:
        self.host = host
        self.port = port
        self.api_key = api_key
        self.seed = seed
        # Knobs: read per request, change them at any time.
        self.run_seconds = run_seconds  # how long a run takes (0: as soon as its work is done)
        self.latency_ms = latency_ms  # added before every API request
        self.error_rate = error_rate  # share of API requests answered 500 unknown_error
        self.rate_limit_rate = rate_limit_rate  # share answered 429 rate_limited + retry-after
        self.fail_rate = fail_rate  # share of runs that end failed (GENERATION_PROVIDER_TIMEOUT)
        self.reset_rate = reset_rate  # share of API requests dropped before they are handled
        self.lose_response_rate = lose_response_rate  # handled, then dropped without an answer
        self.upload_slow_ms = upload_slow_ms  # pause before each 256 KiB read by storage
        self.reservation_seconds = reservation_seconds  # lifetime of a signed upload URL
        self.retry_after_seconds = retry_after_seconds  # the retry-after header of a 429
        # The workspace's USD balance (None: unlimited). A run create that the balance cannot
        # pay for answers 402 insufficient_credits; a run is paid at creation and refunded
        # when it fails (failed runs are not charged).
        self.balance_usd = balance_usd
        # Fetching run inputs and asset sources from loopback URLs (FLORA never does; tests
        # serve files locally). Private LAN and metadata addresses stay refused.
        self.allow_private_fetch = allow_private_fetch
        self.record_body_limit = 8 * 1024 * 1024  # request bodies kept in an Exchange
        self.clock = clock
        self.access_log = access_log
        self.stats = EmulatorStats()
        self.storage_secret = secrets.token_bytes(32)
        self.created_at = clock()
        self.state = State(workspace_id=_stable_id("ws", seed), project_id=_stable_id("prj", seed))
        self._record = record
        self._rngs: dict[str, random.Random] = {}
        self._rng_lock = threading.Lock()
        self._given_data_dir = data_dir
        self._data_dir: Path | None = None
        self._server: HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self._lifecycle = threading.Lock()
        # Run work not finished yet, by ticket: what a stop cancels, the next start re-queues.
        self._pending: dict[int, Callable[[], None]] = {}
        self._tickets = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind, start serving on a background thread, and return once it accepts requests.

        After :meth:`stop`, ``start`` serves again on the same port with the same assets,
        runs and keys (an API that was down and came back); runs whose work the stop
        interrupted finish then. Pass ``data_dir`` to keep the files across the restart too
        (a temporary data dir is removed at stop).
        """
        with self._lifecycle:
            if self._server is not None:
                return self
            self._stopping.clear()
            if self._given_data_dir is not None:
                self._data_dir = self._given_data_dir
                self._data_dir.mkdir(parents=True, exist_ok=True)
            else:
                self._data_dir = Path(tempfile.mkdtemp(prefix="floradrop-emulator-"))
            self.media_dir.mkdir(exist_ok=True)
            self.tmp_dir.mkdir(exist_ok=True)
            try:
                server = HTTPServer((self.host, self.port), self)
            except OSError:
                self._remove_data_dir()
                raise
            self._server = server
            self.port = server.server_address[1]
            self._executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="emulator-work")
            with self._rng_lock:
                pending = sorted(self._pending.items())
            for ticket, work in pending:
                self._queue(ticket, work)
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name=f"emulator-http-{self.port}",
                daemon=True,
            )
            self._thread.start()
            return self

    def stop(self) -> None:
        """Stop serving, end every connection and worker thread, remove a temporary data dir."""
        with self._lifecycle:
            server, self._server = self._server, None
            if server is None:
                return
            self._stopping.set()
            server.shutdown()
            server.close_connections()
            server.server_close()
            if self._thread is not None:
                self._thread.join()
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
            self._remove_data_dir()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _remove_data_dir(self) -> None:
        if self._data_dir is not None and self._given_data_dir is None:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    # -- addresses and ids -----------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``: the host of the API, the upload target and media."""
        host = self.host
        if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/api/v1``: what ``FLORA_BASE_URL`` should be."""
        return self.origin + "/api/v1"

    @property
    def workspace_id(self) -> str:
        return self.state.workspace_id

    @property
    def project_id(self) -> str:
        return self.state.project_id

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("the emulator is not started")
        return self._data_dir

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    def is_own_host(self, netloc: str) -> bool:
        port = str(self.port)
        own = {f"{h}:{port}" for h in ("127.0.0.1", "localhost", self.host)}
        return netloc.lower() in own or netloc == self.origin.split("://", 1)[1]

    # -- what tests read -------------------------------------------------------------------

    def runs(self) -> list[RunRecord]:
        """Every run created so far, oldest first (as created; poll the API for status)."""
        with self.state.lock:
            return list(self.state.run_records)

    @property
    def recording(self) -> bool:
        return self._record is not None

    @property
    def exchanges(self) -> list[Exchange]:
        """The recorded exchanges (the ``record`` list passed in)."""
        if self._record is None:
            raise RuntimeError("pass record=[] to Emulator(...) to record exchanges")
        return self._record

    def record(self, exchange: Exchange) -> None:
        if self._record is not None:
            with self.state.lock:
                self._record.append(exchange)

    def create_asset(
        self, data: bytes | Path, *, file_name: str, content_type: str | None = None
    ) -> dict[str, Any]:
        """Add a ready asset without HTTP; returns it as ``GET /assets/{id}`` would."""
        source = data if isinstance(data, Path) else None
        if source is None:
            assert isinstance(data, bytes)
            handle = tempfile.NamedTemporaryFile(dir=self.tmp_dir, delete=False)  # noqa: SIM115
            with handle:
                handle.write(data)
            source = Path(handle.name)
        try:
            return api_assets.add_ready(self, source, file_name, content_type)
        finally:
            if not isinstance(data, Path):
                source.unlink(missing_ok=True)

    # -- services for the endpoints (see context.Context and routes.Server) ----------------

    def now(self) -> float:
        return float(self.clock())

    def decide(self, kind: str, rate: float) -> bool:
        if rate <= 0:
            return False
        with self._rng_lock:
            rng = self._rngs.get(kind)
            if rng is None:
                rng = self._rngs[kind] = random.Random(f"{self.seed}:{kind}")  # noqa: S311 - seeded on purpose
            return rng.random() < rate

    def submit(self, work: Callable[[], None]) -> None:
        if self._executor is None:
            raise RuntimeError("the emulator is not started")
        with self._rng_lock:
            self._tickets += 1
            ticket = self._tickets
            self._pending[ticket] = work
        self._queue(ticket, work)

    def _queue(self, ticket: int, work: Callable[[], None]) -> None:
        def run() -> None:
            try:
                work()
            finally:
                with self._rng_lock:
                    self._pending.pop(ticket, None)

        assert self._executor is not None
        with contextlib.suppress(RuntimeError):  # shutting down: the next start re-queues it
            self._executor.submit(run)

    def sleep(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def upload_pause(self) -> None:
        if self.upload_slow_ms > 0:
            self._stopping.wait(self.upload_slow_ms / 1000)

    def access(self, line: str) -> None:
        if self.access_log is not None:
            self.access_log(line)
        log.debug("%s", line)

    def report_crash(self, message: str) -> None:
        """An emulator bug (never a client's fault): counted and logged with its traceback."""
        self.stats.count_internal_error()
        log.error("%s", message, exc_info=True)


def _stable_id(prefix: str, seed: int) -> str:
    """The same id for the same seed, so a config written against the emulator stays valid."""
    return (
        f"{prefix}_"
        + hashlib.sha256(f"floradrop-emulator:{prefix}:{seed}".encode()).hexdigest()[:20]
    )
