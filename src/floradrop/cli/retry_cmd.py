"""Placeholder: this verb is being built (see the open issues)."""

from __future__ import annotations

import argparse

from floradrop.errors import FloradropError


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    del parser, verb


def run(args: argparse.Namespace) -> int:
    raise FloradropError(f"'floradrop {args.verb}' is not built yet.")
