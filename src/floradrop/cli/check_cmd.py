"""``floradrop check``: validate the config, reach the API, check each rule against its technique,
and (with ``[hosting]``) that the bucket is reachable, writable and its links fetchable.

Changes nothing. Exit 0 when everything would work, 3 for a config problem, 4 for a key
problem, 5 when the API cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib

from floradrop.cli._common import add_config_option, load, make_client


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)


def run(args: argparse.Namespace) -> int:
    from floradrop.engine import folder_problems as unusable_folders
    from floradrop.errors import ConfigError
    from floradrop.flora.errors import NotFoundError
    from floradrop.pipeline import decide

    config = load(args)
    print(f"config: {config.source} is valid ({len(config.folders)} folder(s))")
    if not config.folders:
        print("  no folders yet: add a [[folders]] table, or run 'floradrop init'")
    with make_client(config) as client:
        workspaces = client.list_workspaces()
        print(f"API: {client.base_url} answers; the key sees {len(workspaces)} workspace(s)")
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
        folder_problems = decide.validate_rules(folder, techniques)
        problems.extend(folder_problems)
        status = "OK" if not folder_problems else f"{len(folder_problems)} problem(s)"
        print(f"folder {folder.name}: {folder.path} ({status})")
        for rule in folder.effective_rules():
            technique = techniques.get(rule.technique)
            cost = f"${technique.run_cost:.2f} a run" if technique else "unknown technique"
            print(f"  {', '.join(rule.match)} -> {rule.technique} ({cost})")
        if not folder.path.exists() and folder.path.parent.is_dir():
            print(f"  note: {folder.path} does not exist yet; 'floradrop run' creates it")
    problems.extend(unusable_folders(config))  # a file where a folder goes, a missing parent
    if problems:
        raise ConfigError(
            "the config cannot work:\n" + decide.problem_lines(problems),
            hint=f"fix the folders and rules in {config.source} ('floradrop techniques show "
            "SLUG' lists a technique's inputs)",
        )
    if config.hosting is not None:
        from floradrop.hosting.check import check_hosting

        print("\n".join(check_hosting(config)))
    print("check passed")
    return 0
