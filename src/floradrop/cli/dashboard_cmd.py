"""``floradrop dashboard [--url]``: open the running daemon's local dashboard in the browser.

The address carries this install's token (``<state_dir>/ui.token``); the page then keeps it in
a same-site cookie. ``--url`` prints the address instead of opening it.
"""

from __future__ import annotations

import argparse

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument(
        "--url",
        action="store_true",
        help="print the dashboard's address (with its token) instead of opening a browser",
    )


def run(args: argparse.Namespace) -> int:
    from floradrop.ui.launch import dashboard_url, open_dashboard

    config = load(args)
    if args.url:
        print(dashboard_url(config.daemon.state_dir))
        return 0
    url = open_dashboard(config.daemon.state_dir)
    print(f"floradrop: opened the dashboard ({url.split('/login', 1)[0]}/)")
    return 0
