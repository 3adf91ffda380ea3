"""``floradrop service install | uninstall | status``: start the daemon at login, or not."""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
from pathlib import Path
from typing import Any

from floradrop.errors import ExitCode


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    del verb
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    install = actions.add_parser(
        "install",
        help="start floradrop at login (and now, where the service manager can)",
        description="Make 'floradrop run' start at login under this platform's service "
        "manager: an XDG autostart entry with the tray (Linux), a systemd user unit with "
        "--headless (Linux), a LaunchAgent (macOS), a Run entry (Windows). Running it again "
        "changes nothing unless something changed.",
    )
    install.add_argument(
        "--headless",
        action="store_true",
        help="no tray icon; on Linux a systemd user service, restarted when it fails",
    )
    install.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="the config the daemon uses (default: $FLORADROP_CONFIG or the per-user one)",
    )
    install.add_argument(
        "--print",
        action="store_true",
        dest="dry_run",
        help="show the files and commands install would write and run, and do nothing",
    )

    uninstall = actions.add_parser(
        "uninstall",
        help="stop starting floradrop at login (removes what install created)",
        description="Stop floradrop's login service and remove exactly what "
        "'floradrop service install' created (every kind that is installed).",
    )
    add_config_option(uninstall, "accepted like everywhere else; every entry is removed")
    uninstall.add_argument(
        "--print",
        action="store_true",
        dest="dry_run",
        help="show what would be removed and run, and do nothing",
    )

    status = actions.add_parser(
        "status",
        help="is the login service installed, enabled, running; where is its log",
        description="Say whether floradrop starts at login, whether it runs now, and where "
        "its log is.",
    )
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_config_option(status, "also say whether the installed entry runs with this config")


def add_config_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help=f"the config file (default: $FLORADROP_CONFIG or the per-user one); {what}",
    )


def run(args: argparse.Namespace) -> int:
    from floradrop.config.loader import config_path
    from floradrop.service import all_backends, backend_for, render

    if args.action == "install":
        backend = backend_for(headless=args.headless, config_file=args.config)
        if args.dry_run:
            plan = backend.plan_install()
            print(f"{backend.title}:")
            if plan.empty:
                print("Already installed and up to date: install would change nothing.")
                print(installed_entry(backend))
            else:
                print(render(plan, done=False, show_content=True))
            return int(ExitCode.OK)
        plan = backend.install()
        if plan.empty:
            print(f"Already installed and up to date: {backend.title}, at {backend.location}.")
        else:
            print(f"Installed: {backend.title}.")
            print(render(plan, done=True))
        return int(ExitCode.OK)

    if args.action == "uninstall":
        plans = [(b, b.plan_uninstall() if args.dry_run else b.uninstall()) for b in all_backends()]
        done = [(b, p) for b, p in plans if not p.empty]
        if not done:
            print("floradrop does not start at login; there is nothing to remove.")
        for backend, plan in done:
            print(f"{'Would remove' if args.dry_run else 'Removed'}: {backend.title}.")
            print(render(plan, done=not args.dry_run))
        return int(ExitCode.OK)

    statuses = [b.status() for b in all_backends()]
    wanted = config_path(args.config) if args.config else None
    uses = {s.kind: _uses(s, wanted) for s in statuses if wanted is not None and s.installed}
    if args.json:
        print(json.dumps([s.to_json() | _config_json(uses, s.kind) for s in statuses], indent=2))
        return int(ExitCode.OK)
    for status in statuses:
        print(status.title)
        print(f"  installed: {_word(status.installed)}")
        for path in status.files:
            print(f"    {path}")
        if status.kind in uses:
            print(f"  uses {wanted}: {_word(uses[status.kind])}")
        if status.installed:
            print(f"  enabled:   {_word(status.enabled)}")
        print(f"  running:   {_word(status.running)}")
        print(f"  log:       {status.log_hint}")
        if status.detail:
            print(f"  detail:    {status.detail}")
    return int(ExitCode.OK)


def installed_entry(backend: Any) -> str:
    """What an installed entry consists of: its files (with their content) and its command."""
    lines = [f"It starts: {shlex.join(backend.command())}"]
    for path in backend.status().files:
        lines.append(f"{path}:")
        with contextlib.suppress(OSError):
            lines.extend(f"    | {line}" for line in path.read_text("utf-8").splitlines())
    return "\n".join(lines)


def _uses(status: Any, config: Path | None) -> bool | None:
    """Does the installed entry name ``config``? None when it cannot be read."""
    texts = [status.detail]
    for path in status.files:
        with contextlib.suppress(OSError):
            texts.append(path.read_text("utf-8"))
    if config is None or not any(texts):
        return None
    return any(str(config) in text for text in texts)


def _config_json(uses: dict[str, bool | None], kind: str) -> dict[str, Any]:
    return {"uses_config": uses[kind]} if kind in uses else {}


def _word(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")
