"""``floradrop emulator``: serve a local FLORA emulator until Ctrl-C.

Point floradrop (or any FLORA client) at it with the two ``export`` lines it prints.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from floradrop.errors import ExitCode, FloradropError

DEFAULT_PORT = 8765


class EmulatorStartError(FloradropError):
    title = "Cannot start the emulator"
    exit_code = ExitCode.UNAVAILABLE


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    del verb
    parser.description = (
        "Serve a local FLORA emulator: the part of the FLORA API floradrop uses, under "
        "/api/v1, with a catalog of techniques that do real image work (cctv-cam, "
        "color-transfer, art-directors-critique, palette-pull, icon-pack, product-motion, "
        "and sigil, whose runs always fail). Runs until Ctrl-C."
    )
    parser.epilog = (
        "Then, in another terminal, run the two 'export' lines it prints and use floradrop "
        "as usual, e.g. 'floradrop techniques list'. Rates are shares from 0 to 1; with the "
        "same --seed, the same sequence of requests meets the same faults."
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    add(
        "--api-key",
        default=None,
        metavar="KEY",
        help="the API key clients must send (default: sk_test_floradrop_emulator)",
    )
    add("--seed", type=int, default=0, help="seed for faults and technique output (default: 0)")
    add(
        "--run-seconds",
        type=_non_negative,
        default=3.0,
        metavar="S",
        help="how long each run takes, pending then running (default: %(default)s)",
    )
    add(
        "--latency-ms",
        type=_non_negative,
        default=0,
        metavar="MS",
        help="delay added to every API request (default: %(default)s)",
    )
    add(
        "--error-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of API requests answered 500 unknown_error (default: %(default)s)",
    )
    add(
        "--rate-limit-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of API requests answered 429 rate_limited with retry-after "
        "(default: %(default)s)",
    )
    add(
        "--fail-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of runs that end failed with GENERATION_PROVIDER_TIMEOUT "
        "(default: %(default)s)",
    )
    add(
        "--balance-usd",
        type=float,
        default=None,
        metavar="USD",
        help="the workspace balance: runs it cannot pay for answer 402 insufficient_credits "
        "(default: unlimited)",
    )
    add(
        "--reset-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of API requests whose connection is reset before they are handled "
        "(default: %(default)s)",
    )
    add(
        "--lose-response-rate",
        type=_rate,
        default=0.0,
        metavar="RATE",
        help="share of API requests that are carried out but never answered (default: %(default)s)",
    )
    add(
        "--reservation-seconds",
        type=_non_negative,
        default=900.0,
        metavar="S",
        help="how long a signed upload URL stays valid (default: %(default)s)",
    )
    add(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="keep uploaded and generated files here (default: a temporary directory, "
        "removed on exit)",
    )
    add(
        "--allow-private-fetch",
        action="store_true",
        help="let runs and asset sources fetch URLs on loopback (127.0.0.1, also over plain "
        "http), for tests that serve files locally; FLORA itself never fetches those",
    )
    add("--quiet", action="store_true", help="do not print a line per request")


def run(args: argparse.Namespace) -> int:
    from flora_emulator import DEFAULT_API_KEY, Emulator

    def access(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    emulator = Emulator(
        host=args.host,
        port=args.port,
        api_key=args.api_key or DEFAULT_API_KEY,
        seed=args.seed,
        run_seconds=args.run_seconds,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        fail_rate=args.fail_rate,
        balance_usd=args.balance_usd,
        reset_rate=args.reset_rate,
        lose_response_rate=args.lose_response_rate,
        reservation_seconds=args.reservation_seconds,
        data_dir=args.data_dir,
        access_log=None if args.quiet else access,
        allow_private_fetch=args.allow_private_fetch,
    )
    try:
        emulator.start()
    except OSError as exc:
        raise EmulatorStartError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}.",
            hint="pick another port with --port (0 picks a free one), or stop what uses it.",
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"FLORA emulator listening on {emulator.base_url}", flush=True)
        print(f"export FLORA_BASE_URL={emulator.base_url}", flush=True)
        print(f"export FLORA_API_KEY={emulator.api_key}", flush=True)
        print(f"Workspace: {emulator.workspace_id}. Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()
    print("FLORA emulator stopped.", flush=True)
    return int(ExitCode.OK)
