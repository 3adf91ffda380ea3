"""The ``floradrop`` command line.

Each verb lives in its own module in this package and exposes two functions:

* ``configure(parser: argparse.ArgumentParser) -> None`` adds its arguments;
* ``run(args: argparse.Namespace) -> int`` does the work and returns an exit code.

Command modules keep their heavy imports inside ``run`` so that ``--help`` and every command
that needs no display work anywhere. Errors are mapped to exit codes here and only here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Protocol

from floradrop import __version__
from floradrop.errors import ExitCode, FloradropError

# verb -> (module, one-line help). The order is the order of ``floradrop --help``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("floradrop.cli.run_cmd", "run the daemon: watch folders and process what is dropped"),
    "demo": ("floradrop.cli.demo_cmd", "see the whole loop offline, against the built-in emulator"),
    "status": ("floradrop.cli.status_cmd", "show jobs per folder, spend today, paused or not"),
    "pause": ("floradrop.cli.control_cmd", "pause new uploads and runs (running ones finish)"),
    "resume": ("floradrop.cli.control_cmd", "resume after pause"),
    "reload": ("floradrop.cli.control_cmd", "make the running daemon re-read its config now"),
    "stop": (
        "floradrop.cli.control_cmd",
        "stop the running daemon (unfinished files resume later)",
    ),
    "approve": (
        "floradrop.cli.money_cmd",
        "start the files of a big drop held for your go-ahead",
    ),
    "cancel": (
        "floradrop.cli.money_cmd",
        "cancel files whose run has not started (to the failed folder; retry brings them back)",
    ),
    "ack": (
        "floradrop.cli.control_cmd",
        "acknowledge failures and the last error: clear 'needs attention'",
    ),
    "check": ("floradrop.cli.check_cmd", "validate the config against the API and techniques"),
    "retry": ("floradrop.cli.retry_cmd", "process a file again on purpose (a new, paid run)"),
    "dashboard": (
        "floradrop.cli.dashboard_cmd",
        "open the local dashboard (now, history, spend) in the browser",
    ),
    "history": ("floradrop.cli.history_cmd", "what happened to a file: its jobs, from the journal"),
    "log": ("floradrop.cli.log_cmd", "show the daemon's log (-f: keep following it)"),
    "techniques": ("floradrop.cli.techniques_cmd", "list FLORA techniques or show one"),
    "init": ("floradrop.cli.init_cmd", "set up floradrop: API key, workspace, folders, service"),
    "service": ("floradrop.cli.service_cmd", "install, remove or inspect the login service"),
    "emulator": ("floradrop.cli.emulator_cmd", "serve a local FLORA emulator (offline/testing)"),
    "completion": (
        "floradrop.cli.completion_cmd",
        "print a shell completion script (bash, zsh, tcsh, fish)",
    ),
}


class _CommandModule(Protocol):
    def configure(self, parser: argparse.ArgumentParser, verb: str) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(verb: str) -> _CommandModule:
    module: _CommandModule = importlib.import_module(COMMANDS[verb][0])
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="floradrop",
        description="Hot folders for FLORA: drop a file into a watched folder and find the "
        "technique's outputs next to it.",
        epilog="Run 'floradrop COMMAND --help' for a command's options. "
        "Quick start: 'floradrop demo' (offline) or 'floradrop init' (your account).",
    )
    parser.add_argument("--version", action="version", version=f"floradrop {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb, (_module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(
            verb, help=help_text, description=help_text[:1].upper() + help_text[1:] + "."
        )
        _load(verb).configure(cmd, verb)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from floradrop import logs

    logs.quiet_logging()  # warnings and errors only; `run` and `demo` set up full logging
    try:
        return _load(args.verb).run(args)
    except FloradropError as exc:
        print(exc.describe(), file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)


def gui_main() -> int:
    """Entry point of the console-less launcher (``floradrop-gui``): ``floradrop run``."""
    return main(["run", *sys.argv[1:]])
