"""A real ``floradrop run`` process for reliability tests, and the CLI verbs that talk to it.

The key comes from a key file named by ``[flora] api_key_file`` (never from the environment),
so a test can revoke a key at the emulator and "fix" it by writing the new one, as a person
would. Every CLI call's stdout and stderr are kept (the secrets test searches them).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floradrop.instance import DaemonInfo
from tests.engine.harness import wait_for


def write_key(path: Path, key: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def journal_states(state_dir: Path) -> dict[str, int]:
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=10) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


@dataclass
class DaemonProcess:
    config: Path
    state_dir: Path
    base_url: str
    output: Path  # the daemon's stdout and stderr
    proc: subprocess.Popen[bytes] | None = None
    captured: list[str] = field(default_factory=list)  # every CLI call's stdout and stderr
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a fail point, a secret

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "FLORA_API_KEY"}
        return env | {"FLORA_BASE_URL": self.base_url, "PYTHONUNBUFFERED": "1"} | self.extra_env

    def start(self) -> DaemonProcess:
        argv = [sys.executable, "-m", "floradrop", "run", "--headless", "--config"]
        with self.output.open("ab") as out:
            self.proc = subprocess.Popen(
                [*argv, str(self.config)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = self.proc

        def up() -> bool:
            assert proc.poll() is None, f"the daemon exited with {proc.returncode}: {self.tail()}"
            info = DaemonInfo.read(self.state_dir)
            return info is not None and info.pid == proc.pid

        wait_for(up, 60, "the daemon to be up")
        return self

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``floradrop ARGS --config CONFIG``; output kept in :attr:`captured`."""
        done = subprocess.run(
            [sys.executable, "-m", "floradrop", *args, "--config", str(self.config)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.captured += [done.stdout, done.stderr]
        return done

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json")
        assert done.returncode == 0, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data

    def states(self) -> dict[str, int]:
        return journal_states(self.state_dir)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def kill(self) -> None:
        """For teardown: whatever is still running goes, with its process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def tail(self) -> str:
        return self.output.read_text("utf-8", errors="replace")[-4000:]
