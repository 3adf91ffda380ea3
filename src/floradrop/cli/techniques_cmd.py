"""``floradrop techniques list`` and ``floradrop techniques show SLUG``.

Asks whatever API is configured (the real one or the emulator) which techniques the key can
run, with their inputs, outputs and cost per run. The base URL comes from ``--base-url``, else
the config file's ``[flora] base_url`` (when there is a config file), else ``FLORA_BASE_URL``,
else the real API; the key from ``FLORA_API_KEY``, the configured key file, the OS keyring or
the key file ``floradrop init`` wrote (see :mod:`floradrop.apikey`).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floradrop.cli._common import add_config_option

if TYPE_CHECKING:
    from floradrop.flora import FloraClient, IOSpec, Technique

ID_PREFIX = "tech_"


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list the techniques this API key can run",
        description="List the techniques this API key can run: slug, name, inputs, outputs "
        "and cost per run.",
    )
    listing.add_argument("--query", metavar="TEXT", help="only techniques matching this search")
    listing.add_argument("--workspace", metavar="WS_ID", help="only this workspace's techniques")
    show = actions.add_parser(
        "show",
        help="show one technique's inputs, outputs and cost",
        description="Show one technique in full: every input (what a folder rule must "
        "supply), every output, and the cost of a run.",
    )
    show.add_argument("technique", metavar="SLUG", help="the technique's slug or tech_ id")
    for sub in (listing, show):
        sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        sub.add_argument(
            "--base-url",
            metavar="URL",
            help="the FLORA API to ask (default: [flora] base_url from the config file, "
            "else $FLORA_BASE_URL, else the real API)",
        )
        add_config_option(sub)


def run(args: argparse.Namespace) -> int:
    from floradrop import logs

    logs.quiet_logging()
    with _client(args) as client:
        if args.action == "list":
            techniques = client.list_techniques(query=args.query, workspace_id=args.workspace)
            print(
                json.dumps([_to_json(t) for t in techniques], indent=2)
                if args.json
                else render_table(techniques)
            )
        else:
            technique = _get(client, args.technique)
            print(json.dumps(_to_json(technique), indent=2) if args.json else render_one(technique))
    return 0


def _client(args: argparse.Namespace) -> FloraClient:
    """The client for the configured API, reading the config file only if there is one."""
    from floradrop import paths
    from floradrop.apikey import resolve_api_key
    from floradrop.flora import FloraClient
    from floradrop.flora.endpoint import Endpoint

    base_url: str | None = args.base_url
    key_file: Path | None = None
    state_dir = paths.state_dir()
    config_file: Path | None = args.config
    if config_file is None and paths.default_config_file().exists():
        config_file = paths.default_config_file()
    if config_file is not None:
        from floradrop.config import load_config

        config = load_config(config_file)
        base_url = base_url or config.flora.base_url
        key_file = config.flora.api_key_file
        state_dir = config.daemon.state_dir
    endpoint = Endpoint.resolve(None, base_url)
    key = resolve_api_key(base_url=endpoint.base_url, key_file=key_file, state_dir=state_dir)
    return FloraClient(key.value if key else None, base_url=endpoint.base_url)


def _get(client: FloraClient, handle: str) -> Technique:
    """By slug or id; a handle shown by ``list`` for a slug-less technique is its id minus
    ``tech_``, so that is tried too."""
    from floradrop.flora import NotFoundError

    try:
        return client.get_technique(handle)
    except NotFoundError:
        if handle.startswith(ID_PREFIX):
            raise
        try:
            return client.get_technique(ID_PREFIX + handle)
        except NotFoundError:
            pass
        raise


def handle_of(technique: Technique) -> str:
    """What ``list`` shows in its first column: the slug, else the id without ``tech_``."""
    if technique.slug:
        return technique.slug
    tid = technique.technique_id
    return tid[len(ID_PREFIX) :] if tid.startswith(ID_PREFIX) else tid


def _io(spec: IOSpec) -> str:
    return f"{spec.id}:{spec.type}" + ("?" if spec.optional else "")


def format_cost(cost: float) -> str:
    text = f"{cost:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def render_table(techniques: Sequence[Technique]) -> str:
    if not techniques:
        return "No techniques found."
    all_slugs = all(t.slug for t in techniques)
    first = "SLUG" if all_slugs else "SLUG/ID"
    rows = [(first, "NAME", "INPUTS", "OUTPUTS", "COST")]
    rows += [
        (
            _clean(handle_of(t)),
            _clean(t.name),
            ", ".join(_clean(_io(i)) for i in t.inputs) or "-",
            ", ".join(_clean(_io(o)) for o in t.outputs) or "-",
            format_cost(t.run_cost),
        )
        for t in techniques
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True))
        + "  "
        + row[4]
        for row in rows
    ]
    lines.append("")
    notes = [f"{len(techniques)} technique(s). '?' marks an optional input; cost is USD per run."]
    if not all_slugs:
        notes.append(
            "SLUG/ID is the slug, or when FLORA gives none the technique id without 'tech_'; "
            "'floradrop techniques show' accepts either."
        )
    lines.extend(notes)
    return "\n".join(line.rstrip() for line in lines)


def render_one(technique: Technique) -> str:
    lines = [
        _clean(technique.name),
        f"  id:    {_clean(technique.technique_id)}",
        f"  slug:  {_clean(technique.slug) if technique.slug else '(none given by FLORA)'}",
        f"  cost:  {format_cost(technique.run_cost)} per run",
    ]
    if technique.description:
        lines.append(f"  about: {_clean(technique.description)}")
    for title, specs in (("Inputs", technique.inputs), ("Outputs", technique.outputs)):
        lines.append(f"{title}:" if specs else f"{title}: none")
        width = max((len(_clean(s.id)) for s in specs), default=0)
        for spec in specs:
            details = [spec.type]
            if title == "Inputs":
                details.append("optional" if spec.optional else "required")
            if spec.specified_aspect_ratio:
                details.append(f"aspect ratio {_clean(spec.specified_aspect_ratio)}")
            if spec.specified_duration is not None:
                details.append(f"{spec.specified_duration:g} s")
            if spec.accepts_element:
                details.append("accepts an element id")
            line = f"  {_clean(spec.id).ljust(width)}  {', '.join(details)}"
            if spec.name and spec.name != spec.id:
                line += f"  ({_clean(spec.name)})"
            lines.append(line)
            if spec.description:
                lines.append(f"  {' ' * width}  {_clean(spec.description)}")
    return "\n".join(lines)


def _to_json(technique: Technique) -> dict[str, Any]:
    return asdict(technique)


def _clean(text: str) -> str:
    """Text from the API made safe for a terminal: no control characters or line breaks."""
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()
