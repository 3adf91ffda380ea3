"""The README's workflow examples load and mean what the README says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from floradrop.config import parse_config
from floradrop.workflows.chains import flows

README = Path(__file__).parents[2] / "README.md"


def _snippet(containing: str) -> dict[str, object]:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text("utf-8"), flags=re.S)
    [block] = [b for b in blocks if containing in b]
    data: dict[str, object] = tomllib.loads(block)
    return data


def test_the_chain_example_is_one_flow(isolated_home: Path) -> None:
    config = parse_config(_snippet("the next folder's inbox"), source=Path("README.md"))
    cam, grade = config.folders
    assert cam.outputs == grade.path
    assert set(flows(config.folders).values()) == {("CCTV Cam", "Color Transfer")}


def test_the_schedule_example(isolated_home: Path) -> None:
    from datetime import datetime

    from floradrop.workflows.schedule import window_of

    config = parse_config(_snippet("office hours"), source=Path("README.md"))
    [folder] = config.folders
    window = window_of(config, folder)
    assert window is not None
    assert window.is_open(datetime(2026, 12, 12, 21, 0))  # Saturday evening
    assert not window.is_open(datetime(2026, 12, 7, 23, 0))  # the folder's own, not nights
    assert config.daemon.schedule == "22:00-07:00"


def test_the_actions_example(isolated_home: Path) -> None:
    config = parse_config(_snippet("hooks.example.com"), source=Path("README.md"))
    [folder] = config.folders
    assert [a.kind for a in folder.on_done] == ["command", "webhook"]
    assert folder.on_done[0].command == ("/usr/local/bin/publish", "--to", "web")
    assert folder.on_done[1].secret_env == "FLORADROP_HOOK_SECRET"
    assert [a.kind for a in folder.on_failed] == ["command", "notify"]


def test_the_hold_point_example(isolated_home: Path) -> None:
    config = parse_config(_snippet("held until a person approves"), source=Path("README.md"))
    cam, grade = config.folders
    assert cam.review and not grade.review
    assert cam.outputs == grade.path
    assert cam.review_folder == cam.path.parent / "inbox-review"
    assert cam.approved == cam.path.parent / "inbox-approved"
    assert cam.rejected == cam.path.parent / "inbox-rejected"


def test_the_numbers_the_readme_gives_are_the_codes(tmp_path: Path) -> None:
    """Back-off, give-up time, command time limit, review rescan: as the README says."""
    from floradrop.config.actions import Action
    from floradrop.workflows.actions import Actions
    from floradrop.workflows.outbox import GIVE_UP_SECONDS
    from floradrop.workflows.review import RESCAN_SECONDS

    text = " ".join(README.read_text("utf-8").split())
    assert "back-off (from 5 s up to 10 minutes between tries) for up to 3 days" in text
    actions = Actions(tmp_path / "journal.sqlite3")
    try:
        assert (actions.retry_base_seconds, actions.retry_max_seconds) == (5.0, 600.0)
    finally:
        actions.outbox.close()
    assert GIVE_UP_SECONDS == 3 * 24 * 3600
    assert "`timeout_seconds` (default 60)" in text
    assert Action(command=("x",)).timeout_seconds == 60
    assert "(checking every second)" in text and RESCAN_SECONDS == 1.0
