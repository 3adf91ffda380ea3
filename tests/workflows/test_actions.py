"""Actions when outputs land: commands and webhooks, end to end in a real engine over the
emulator, with a loopback receiver that checks the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator
from floradrop.config import parse_config
from floradrop.errors import ConfigError
from floradrop.jobs import JobState
from floradrop.workflows.actions import SIGNATURE_HEADER
from floradrop.workflows.outbox import DONE, FAILED, PENDING
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

SECRET = "correct horse battery staple"

RECORDER = """
import json, os, sys
out = sys.argv[1]
env = {k: v for k, v in os.environ.items() if k.startswith("FLORADROP_")}
with open(out, "a", encoding="utf-8") as handle:
    handle.write(json.dumps({"argv": sys.argv[2:], "env": env}) + "\\n")
print("recorded", len(sys.argv) - 2, "file(s)")
"""


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def test_a_command_gets_the_files_and_the_provenance(tmp_path: Path, emulator: Emulator) -> None:
    script = tmp_path / "record.py"
    script.write_text(RECORDER, encoding="utf-8")
    log = tmp_path / "calls.jsonl"
    command = _toml_list([sys.executable, str(script), str(log)])
    extra = (
        f"[[folders.on_done]]\ncommand = {command}\n[[folders.on_failed]]\ncommand = {command}\n"
    )
    folders = folder_toml(tmp_path, "cam", "cctv-cam", extra) + folder_toml(
        tmp_path, "sigil", "sigil", f"[[folders.on_failed]]\ncommand = {command}\n"
    )
    with running(write_config(tmp_path, folders), emulator) as daemon:
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        drop(tmp_path / "sigil", "mark.png", png_bytes(2))
        daemon.wait_state(1, JobState.DONE)
        daemon.wait_state(1, JobState.FAILED)
        assert daemon.engine.actions is not None
        outbox = daemon.engine.actions.outbox
        wait_for(lambda: outbox.counts().get(DONE) == 2, 20, "both commands to run")
        [done_job] = daemon.jobs(JobState.DONE)
    calls = [json.loads(line) for line in log.read_text("utf-8").splitlines()]
    done = next(c for c in calls if c["env"]["FLORADROP_EVENT"] == "done")
    failed = next(c for c in calls if c["env"]["FLORADROP_EVENT"] == "failed")
    output = tmp_path / "cam-outputs" / "street.cctv-cam.png"
    assert done["argv"] == [str(output)]
    assert done["env"]["FLORADROP_RUN_ID"] == done_job.run_id
    assert done["env"]["FLORADROP_OUTPUTS"] == str(output)
    provenance = json.loads(done["env"]["FLORADROP_PROVENANCE"])
    assert provenance["outputs"][0]["provenance"]["run_id"] == done_job.run_id
    assert provenance["source"]["name"] == "street.png"
    assert "FLORA_API_KEY" not in done["env"]
    # a failure gets the filed original and its report
    assert failed["argv"] == [
        str(tmp_path / "sigil-failed" / "mark.png"),
        str(tmp_path / "sigil-failed" / "mark.png.error.txt"),
    ]
    assert "GENERATION_PROMPT_MODERATED" in failed["env"]["FLORADROP_PROVENANCE"]


def test_a_hanging_command_is_cut_at_its_limit_and_the_job_stays_done(
    tmp_path: Path, emulator: Emulator
) -> None:
    hang = _toml_list(
        [sys.executable, "-c", "import time; print('working', flush=True); time.sleep(600)"]
    )
    extra = f"[[folders.on_done]]\ncommand = {hang}\ntimeout_seconds = 1\n"
    with running(
        write_config(tmp_path, folder_toml(tmp_path, "cam", "cctv-cam", extra)), emulator
    ) as daemon:
        drop(tmp_path / "cam", "a.png", png_bytes(1))
        daemon.wait_state(1, JobState.DONE)
        assert daemon.engine.actions is not None
        outbox = daemon.engine.actions.outbox
        [item] = wait_for(lambda: outbox.items(FAILED), 30, "the command to be stopped")
        assert "was stopped after 1 s" in (item.last_error or "")
        # the pipeline went on meanwhile, and the problem is reported, not the file failed
        drop(tmp_path / "cam", "b.png", png_bytes(2))
        daemon.wait_state(2, JobState.DONE)
        assert "stopped after 1 s" in (daemon.engine.snapshot().last_error or "")
        assert daemon.jobs(JobState.FAILED) == []


class _Receiver(BaseHTTPRequestHandler):
    got: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        fields = dict(part.split("=", 1) for part in self.headers[SIGNATURE_HEADER].split(","))
        expected = hmac.new(
            SECRET.encode(), fields["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        ok = hmac.compare_digest(expected, fields["v1"])
        self.server.got.append(  # type: ignore[attr-defined]
            {
                "ok": ok,
                "delivery": self.headers["X-Floradrop-Delivery"],
                "body": json.loads(body),
            }
        )
        self.send_response(204 if ok else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
def receiver_port() -> Iterator[tuple[int, list[ThreadingHTTPServer]]]:
    servers: list[ThreadingHTTPServer] = []
    yield _free_port(), servers
    for server in servers:
        server.shutdown()
        server.server_close()


def _start_receiver(port: int, servers: list[ThreadingHTTPServer]) -> list[dict[str, Any]]:
    server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    server.got = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, name="test-receiver", daemon=True).start()
    servers.append(server)
    got: list[dict[str, Any]] = server.got  # type: ignore[attr-defined]
    return got


def test_a_webhook_receiver_down_for_a_while_loses_nothing_and_slows_nothing(
    tmp_path: Path,
    emulator: Emulator,
    receiver_port: tuple[int, list[ThreadingHTTPServer]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, servers = receiver_port
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    extra = (
        f'[[folders.on_done]]\nwebhook = "http://127.0.0.1:{port}/hook"\n'
        'secret_env = "HOOK_SECRET"\n'
    )
    with running(
        write_config(tmp_path, folder_toml(tmp_path, "cam", "cctv-cam", extra)), emulator
    ) as daemon:
        actions = daemon.engine.actions
        assert actions is not None
        actions.retry_base_seconds, actions.retry_max_seconds = 0.2, 1.0
        for n in range(3):
            drop(tmp_path / "cam", f"f{n}.png", png_bytes(n))
        # the receiver is down: every file still finishes, the deliveries wait
        done = daemon.wait_state(3, JobState.DONE)
        wait_for(
            lambda: (
                len(actions.outbox.items(PENDING)) == 3
                and all(i.attempts >= 1 for i in actions.outbox.items(PENDING))
            ),
            20,
            "three deliveries tried and waiting",
        )
        assert "cannot be reached" in (daemon.engine.snapshot().last_error or "")
        got = _start_receiver(port, servers)  # back up
        wait_for(lambda: actions.outbox.counts().get(DONE) == 3, 30, "every delivery")
    assert len(got) == 3 and all(g["ok"] for g in got)
    assert len({g["delivery"] for g in got}) == 3
    assert sorted(g["body"]["run_id"] for g in got) == sorted(j.run_id for j in done)
    assert all(g["body"]["event"] == "done" for g in got)
    assert all(g["body"]["outputs"][0]["provenance"]["technique"] == "cctv-cam" for g in got)


def test_undelivered_webhooks_survive_a_restart(
    tmp_path: Path,
    emulator: Emulator,
    receiver_port: tuple[int, list[ThreadingHTTPServer]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port, servers = receiver_port
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    extra = (
        f'[[folders.on_done]]\nwebhook = "http://127.0.0.1:{port}/hook"\n'
        'secret_env = "HOOK_SECRET"\n'
    )
    config = write_config(tmp_path, folder_toml(tmp_path, "cam", "cctv-cam", extra))
    with running(config, emulator) as daemon:
        drop(tmp_path / "cam", "a.png", png_bytes(1))
        daemon.wait_state(1, JobState.DONE)
        assert daemon.engine.actions is not None
        outbox = daemon.engine.actions.outbox
        wait_for(lambda: [i for i in outbox.items(PENDING) if i.attempts], 20, "a failed try")
    got = _start_receiver(port, servers)
    with running(config, emulator) as daemon:
        assert daemon.engine.actions is not None
        daemon.engine.actions.retry_base_seconds = 0.2
        outbox = daemon.engine.actions.outbox
        wait_for(lambda: outbox.counts().get(DONE) == 1, 30, "the delivery after the restart")
    assert len(got) == 1 and got[0]["ok"]


@pytest.mark.parametrize(
    ("action", "says"),
    [
        ({"command": "publish --to web"}, "must be a list"),
        ({"command": []}, "must be a list of strings"),
        ({"webhook": "http://hooks.example.com/x", "secret_env": "S"}, "plain http"),
        ({"webhook": "https://hooks.example.com/x"}, "needs the HMAC secret"),
        ({"webhook": "https://hooks.example.com/x", "secret_env": "not a name!"}, "not the name"),
        ({"webhook": "https://u:p@hooks.example.com/x", "secret_env": "S"}, "password"),
        ({"command": ["x"], "webhook": "https://h/x", "secret_env": "S"}, "exactly one"),
        ({"timeout_seconds": 5}, "exactly one"),
    ],
)
def test_bad_actions_are_refused_naming_the_key(
    tmp_path: Path, action: dict[str, Any], says: str
) -> None:
    data = {
        "folders": [{"path": str(tmp_path / "a"), "technique": "cctv-cam", "on_done": [action]}]
    }
    with pytest.raises(ConfigError, match=says) as caught:
        parse_config(data, source=tmp_path / "c.toml")
    assert "folders[0].on_done[0]" in caught.value.message
