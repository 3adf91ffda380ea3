"""Starting the dashboard inside ``floradrop run``: what it reads and which actions it offers.

The page's buttons go through ``control``, the daemon's control handler (the one that serves
``floradrop pause|resume|retry``), so the dashboard can do exactly what the command line can.
:data:`ACTIONS` lists the handler's commands the page offers; a button whose command the
handler lacks is not shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from floradrop import control
from floradrop.ui.api import Context, Control
from floradrop.ui.server import Dashboard

if TYPE_CHECKING:
    from floradrop.config import Config
    from floradrop.engine import Engine

ACTIONS = frozenset(
    {
        control.PAUSE,
        control.RESUME,
        control.RETRY,
        control.ACKNOWLEDGE,
        control.APPROVE,
        control.CANCEL,
    }
)
FOLDER_ACTIONS = frozenset({control.PAUSE, control.RESUME, control.APPROVE, control.CANCEL})


def start_dashboard(config: Config, engine: Engine, handler: Control) -> Dashboard | None:
    """Serve the dashboard when ``[ui] enabled``; None when disabled or its port is taken."""
    if not config.ui.enabled:
        return None
    from floradrop.tray.opener import open_path

    journal = engine.journal
    context = Context(
        config=lambda: engine.config,
        journal=journal,
        snapshot=engine.snapshot,
        control=handler,
        progress=lambda: dict(engine.live.progress),
        actions=ACTIONS,
        folder_actions=FOLDER_ACTIONS,
        paused_folders=lambda: journal.paused_folders,
        opener=open_path,
        thumbs_dir=config.daemon.state_dir / "thumbs",
    )
    dashboard = Dashboard(config.daemon.state_dir, config.ui.port, context)
    return dashboard if dashboard.start() is not None else None
