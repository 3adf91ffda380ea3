"""``floradrop check``: validate the config, reach the API, check each rule against its technique,
and (with ``[hosting]``) that the bucket is reachable, writable and its links fetchable.

Changes nothing. Exit 0 when everything would work, 3 for a config problem, 4 for a key
problem, 5 when the API cannot be reached. ``--json`` prints one JSON object instead (``ok``,
``exit_code``, what was checked, and the error with its hint when there is one).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any

from floradrop.cli._common import add_config_option, load, make_client
from floradrop.errors import FloradropError


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def run(args: argparse.Namespace) -> int:
    as_json = getattr(args, "json", False)  # `init` runs a check with its own arguments
    result: dict[str, Any] = {"ok": False, "config": None, "api": None, "folders": []}
    say = (lambda _text: None) if as_json else print
    try:
        _check(args, result, say)
    except FloradropError as exc:
        if not as_json:
            raise
        result["exit_code"] = int(exc.exit_code)
        result["error"] = {"title": exc.title, "message": exc.message, "hint": exc.hint}
        print(json.dumps(result, indent=2))
        return int(exc.exit_code)
    result.update(ok=True, exit_code=0, error=None)
    if as_json:
        print(json.dumps(result, indent=2))
    return 0


def _check(args: argparse.Namespace, result: dict[str, Any], say: Any) -> None:
    from floradrop.errors import ConfigError
    from floradrop.flora.errors import NotFoundError
    from floradrop.pipeline import bind
    from floradrop.snapshot import folder_problems as unusable_folders

    config = load(args)
    result["config"] = str(config.source) if config.source else None
    say(f"config: {config.source} is valid ({len(config.folders)} folder(s))")
    if not config.folders:
        say("  no folders yet: add a [[folders]] table, or run 'floradrop init'")
    with make_client(config) as client:
        workspaces = client.list_workspaces()
        result["api"] = {
            "base_url": client.base_url,
            "workspaces": [w.workspace_id for w in workspaces],
        }
        say(f"API: {client.base_url} answers; the key sees {len(workspaces)} workspace(s)")
        wanted = config.flora.workspace_id
        if wanted and wanted not in {w.workspace_id for w in workspaces}:
            raise ConfigError(
                f"[flora] workspace_id = {wanted!r} is not one of this key's workspaces "
                f"({', '.join(w.workspace_id for w in workspaces)}).",
                hint="fix workspace_id in " + str(config.source),
            )
        if not wanted and len(workspaces) > 1:
            raise ConfigError(
                "this key has several workspaces: "
                + ", ".join(f"{w.workspace_id} ({w.name})" for w in workspaces),
                hint="set [flora] workspace_id to the one runs should bill",
            )
        techniques = {}
        for slug in sorted({r.technique for f in config.folders for r in f.effective_rules()}):
            with contextlib.suppress(NotFoundError):  # validate_rules reports unknown slugs
                techniques[slug] = client.get_technique(slug)
    problems = []
    for folder in config.folders:
        folder_problems = bind.validate_rules(folder, techniques)
        problems.extend(folder_problems)
        status = "OK" if not folder_problems else f"{len(folder_problems)} problem(s)"
        say(f"folder {folder.name}: {folder.path} ({status})")
        rules = []
        for rule in folder.effective_rules():
            technique = techniques.get(rule.technique)
            cost = f"${technique.run_cost:.2f} a run" if technique else "unknown technique"
            say(f"  {', '.join(rule.match)} -> {rule.technique} ({cost})")
            rules.append(
                {
                    "match": list(rule.match),
                    "technique": rule.technique,
                    "run_cost": technique.run_cost if technique else None,
                }
            )
        if not folder.path.exists() and folder.path.parent.is_dir():
            say(f"  note: {folder.path} does not exist yet; 'floradrop run' creates it")
        result["folders"].append(
            {
                "name": folder.name,
                "path": str(folder.path),
                "rules": rules,
                "problems": [p.message for p in folder_problems],
            }
        )
    problems.extend(unusable_folders(config))  # a file where a folder goes, a missing parent
    if problems:
        raise ConfigError(
            "the config cannot work:\n" + bind.problem_lines(problems),
            hint=f"fix the folders and rules in {config.source} ('floradrop techniques show "
            "SLUG' lists a technique's inputs)",
        )
    if config.hosting is not None:
        from floradrop.hosting.check import check_hosting

        lines = check_hosting(config)
        result["hosting"] = {"bucket": config.hosting.bucket, "ok": True}
        say("\n".join(lines))
    say("check passed")
