"""``floradrop history [PATH] [--since DATE] [--json]``: what happened to a file, from the journal.

With a PATH (a dropped file, where it was filed, or a watched folder): that file's jobs (or the
folder's); without: every job. Newest first. Works whether or not the daemon runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument(
        "path", nargs="?", type=Path, help="a file (dropped, done or failed) or a watched folder"
    )
    parser.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help="only jobs dropped on or after DATE (2026-12-01, or 2026-12-01T14:00)",
    )
    parser.add_argument(
        "-n", "--limit", type=int, default=50, metavar="N", help="at most N jobs (default 50)"
    )
    parser.add_argument("--json", action="store_true", help="print the jobs as JSON")


def _since(value: str) -> float:
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date; write it like 2026-12-01 or 2026-12-01T14:00"
        ) from None


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def render(row: dict[str, Any]) -> list[str]:
    cost = f"${row['cost']:.2f}" if row.get("cost") is not None else "not charged"
    lines = [
        f"#{row['id']} {row['name']}  [{row['state']}]  {row['folder_name']} -> "
        f"{row['technique']}  {cost}",
        f"    dropped {_when(row['created_at'])}, finished {_when(row['finished_at'])}"
        + (f", run {row['run_id']}" if row.get("run_id") else ""),
        f"    now at {row['now_at']}",
    ]
    lines += [f"    output {o['path']}" for o in row["outputs"]]
    if row.get("error_message"):
        lines.append(f"    error: {row['error_message']}")
        if row.get("error_hint"):
            lines.append(f"    what to do: {row['error_hint']}")
    if row.get("report_path"):
        lines.append(f"    report {row['report_path']}")
    if row.get("note"):
        lines.append(f"    note: {row['note']}")
    return lines


def run(args: argparse.Namespace) -> int:
    from floradrop import history
    from floradrop.journal import Journal
    from floradrop.snapshot import journal_path

    config = load(args)
    names = {str(f.path): f.name for f in config.folders}
    query_path, folder = "", ""
    if args.path is not None:
        target = args.path.expanduser().absolute()
        resolved = target.resolve() if target.exists() else target
        if str(resolved) in names or resolved.is_dir():
            folder = str(resolved)
        else:
            query_path = str(resolved)
    journal = Journal(journal_path(config))
    try:
        page = history.search(
            journal,
            history.Query(
                path=query_path,
                folder=folder,
                since=args.since,
                page_size=max(1, args.limit),
            ),
            names,
        )
    finally:
        journal.close()
    if args.json:
        json.dump({"jobs": page.rows, "total": page.total}, sys.stdout, indent=2)
        print()
        return 0
    if not page.rows:
        what = f" for {args.path}" if args.path else ""
        print(f"floradrop: no jobs{what} in the journal.")
        return 1 if args.path else 0
    for row in page.rows:
        print("\n".join(render(row)))
    if page.total > len(page.rows):
        print(f"({len(page.rows)} of {page.total} shown; -n N for more)")
    return 0
