"""What several commands share: the --config option, loading it, the key and the client."""

from __future__ import annotations

import argparse
from pathlib import Path

from floradrop.errors import ExitCode, FloradropError


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the config file (default: $FLORADROP_CONFIG, else the user config dir's "
        "floradrop/config.toml)",
    )


def load(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # -> Config (lazy import)
    from floradrop.config import load_config

    return load_config(getattr(args, "config", None))


class NoApiKeyError(FloradropError):
    title = "No FLORA API key"
    exit_code = ExitCode.AUTH


def make_client(config, *, required: bool = True, sleep=None):  # type: ignore[no-untyped-def]
    """A FloraClient for ``config``'s base URL with the configured key (see floradrop.apikey).

    ``sleep`` replaces the waits between retries (the daemon passes its stop event's ``wait``,
    so a stop never waits out a long ``retry-after``)."""
    from floradrop.apikey import resolve_api_key
    from floradrop.flora import FloraClient

    key = resolve_api_key(
        base_url=config.flora.base_url,
        key_file=config.flora.api_key_file,
        state_dir=config.daemon.state_dir,
    )
    if key is None and required:
        raise NoApiKeyError(
            "no API key is configured.",
            hint="run 'floradrop init', or set FLORA_API_KEY (keys are created in the FLORA app)",
        )
    if sleep is None:
        return FloraClient(key.value if key else None, base_url=config.flora.base_url)
    return FloraClient(key.value if key else None, base_url=config.flora.base_url, sleep=sleep)
