"""``floradrop run``: the daemon.

Holds the single-instance lock, then hands over to the composition root
(:func:`floradrop.app.run_daemon`): the control channel, the engine in the background and the
tray (when there is one) on the main thread. SIGTERM, SIGINT, logout and the tray's
Quit all stop intake, let what is mid-write finish, and exit; unfinished jobs resume at the next
start. ``--once`` processes what is there and exits; ``--dry-run`` only shows what would happen.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from floradrop import budget
from floradrop.cli._common import add_config_option, load, make_client

if TYPE_CHECKING:
    from floradrop.config import Config
    from floradrop.journal import Journal


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument("--headless", action="store_true", help="run without a tray icon")
    parser.add_argument(
        "--once",
        action="store_true",
        help="process the files already in the folders, wait for them, print a summary and exit "
        "(0 if every file succeeded)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what each file would do and cost; uploads nothing, changes nothing",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="with --once: print only the summary (the log file still has everything)",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --once: print the summary as one JSON object"
    )


def run(args: argparse.Namespace) -> int:
    from floradrop import logs
    from floradrop.cli._once import progress_line
    from floradrop.errors import ExitCode

    config = load(args)
    line = progress_line(args)  # `--once` on a terminal: one line, not every log line
    log_file = logs.setup_logging(
        log_dir=config.daemon.log_dir,
        level="DEBUG" if args.verbose else config.daemon.log_level,
        foreground=not getattr(args, "quiet", False),
        stderr_level="WARNING" if line is not None and not args.verbose else None,
        stderr=line.write if line is not None else None,
    )
    args.progress_line = line
    if args.dry_run:
        return dry_run(config)
    from floradrop.instance import InstanceLock

    lock = InstanceLock(config.daemon.state_dir)
    lock.acquire()
    try:
        from floradrop.app import run_daemon

        return run_daemon(args, config, lock, log_file)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    finally:
        lock.release()


def dry_run(config: Config) -> int:
    """Show what every file in the folders would do and cost. Uploads nothing.

    The same decisions as the real run (:func:`floradrop.pipeline.verdict.judge`), then the
    budgets and the big-drop guard over the files that would run."""
    from floradrop import money
    from floradrop.flora.errors import NotFoundError
    from floradrop.journal import Journal, today
    from floradrop.pipeline import bind
    from floradrop.pipeline.verdict import Outcome, admission, upload_problem
    from floradrop.snapshot import journal_path

    client = make_client(config)
    journal = Journal(journal_path(config))
    techniques: dict[str, Any] = {}
    total = 0.0
    count = 0
    day = today()
    planned: dict[str | None, float] = {}  # budget scope -> cost of the runs planned so far
    try:
        for slug in bind.techniques_needed(config.folders):
            try:
                techniques[slug] = client.get_technique(slug)
            except NotFoundError:
                techniques[slug] = None
        for folder in config.folders:
            print(f"{folder.name} ({folder.path}):")
            if not folder.path.is_dir():
                print("  (folder does not exist yet)")
                continue
            files = sorted(folder.path.rglob("*") if folder.recursive else folder.path.iterdir())
            runs, folder_cost = 0, 0.0
            for path in files:
                if not path.is_file() or path.is_symlink():
                    continue
                rel = path.relative_to(folder.path)
                found = admission(
                    path,
                    folder,
                    techniques,
                    journal=journal,
                    duplicates=config.daemon.duplicates,
                )
                if found.outcome is Outcome.SKIP:
                    print(f"  {rel}: skipped ({found.reason})")
                    continue
                if found.outcome is Outcome.DUPLICATE:
                    print(f"  {rel}: duplicate, filed without a run ({found.reason})")
                    continue
                if found.outcome is Outcome.FAIL:
                    print(f"  {rel}: would fail before upload, nothing charged: {found.reason}")
                    continue
                limits = money.limits(config, str(folder.path))
                usages = [(limit, _planned_usage(journal, day, limit, planned)) for limit in limits]
                hold = budget.first_hold(found.cost, usages)
                if hold is not None:
                    which = f"{hold.limit.label} ${hold.limit.limit_usd:.2f}"
                    print(f"  {rel}: would wait for budget ({which})")
                    continue
                assert found.rule is not None
                problem = upload_problem(path, found.rule, techniques[found.rule.technique])
                if problem is not None:
                    print(f"  {rel}: would fail before upload, nothing charged: {problem}")
                    continue
                for limit in limits:
                    planned[limit.folder] = planned.get(limit.folder, 0.0) + found.cost
                runs += 1
                folder_cost += found.cost
                print(f"  {rel}: {found.technique} -> {folder.outputs} (${found.cost:.2f})")
            d = config.daemon
            if runs > d.confirm_above_files or folder_cost > d.confirm_above_usd + 1e-9:
                print(
                    f"  (a big drop: the real run asks first: 'Start {runs} files in "
                    f"{folder.name} for ${folder_cost:.2f}?')"
                )
            total += folder_cost
            count += runs
    finally:
        client.close()
        journal.close()
    print(f"{count} file(s) would run, ${total:.2f} in all. Nothing was uploaded.")
    return 0


def _planned_usage(
    journal: Journal, day: str, limit: budget.Limit, planned: dict[str | None, float]
) -> budget.Usage:
    """The journal's spend and reservations, plus the runs this dry run already planned."""
    usage = journal.usage(day, limit)
    return budget.Usage(usage.spent, usage.reserved + planned.get(limit.folder, 0.0))
