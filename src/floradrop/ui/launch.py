"""``floradrop dashboard`` and the tray's "Open dashboard": find the running dashboard and open
it in the browser, signed in with this install's token."""

from __future__ import annotations

import webbrowser
from pathlib import Path

from floradrop.errors import DaemonNotRunningError, FloradropError
from floradrop.instance import DaemonInfo
from floradrop.ui import access


def dashboard_url(state_dir: Path) -> str:
    """The running dashboard's address with its token (``/login?token=…``).

    Raises :class:`DaemonNotRunningError` when no daemon serves one for ``state_dir``.
    """
    address = access.Address.read(state_dir)
    info = DaemonInfo.read(state_dir)
    if address is None or info is None or info.pid != address.pid:
        raise DaemonNotRunningError(
            f"no floradrop dashboard is being served for {state_dir}.",
            hint="start the daemon with 'floradrop run' (and check that [ui] enabled is not "
            "false in the config)",
        )
    return address.url(access.token(state_dir))


def open_dashboard(state_dir: Path) -> str:
    """Open the dashboard in the default browser; returns the address (with its token).

    Raises :class:`FloradropError` when no browser could be started (the hint has the address).
    """
    url = dashboard_url(state_dir)
    if not webbrowser.open(url):
        raise FloradropError(  # the address is not in the message: it holds the token
            "no web browser could be started.",
            hint="run 'floradrop dashboard --url' and open the address it prints",
            title="Cannot open the dashboard",
        )
    return url
