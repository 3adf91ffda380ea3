"""The wheel a person installs (``pipx install .`` builds the same): the commented example
config inside the package, where the missing-config hint points; the FLORA emulator as its
own package beside floradrop (``floradrop demo`` and ``floradrop emulator`` need it); the
LICENSE; project URLs, classifiers; pystray capped below its next minor (floradrop uses a
private attribute)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_example_config_the_license_and_the_metadata(
    tmp_path: Path,
) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("floradrop-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        example = archive.read("floradrop/config/floradrop.example.toml")
        archive.extractall(tmp_path / "site")
    assert example == (ROOT / "config" / "floradrop.example.toml").read_bytes()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    emulator = ROOT / "src" / "flora_emulator"
    shipped = {n for n in names if n.startswith("flora_emulator/")}
    assert shipped == {f"flora_emulator/{p.name}" for p in emulator.iterdir() if p.is_file()}
    assert "flora_emulator/py.typed" in shipped
    assert not any(n.startswith("floradrop/emulator/") for n in names)
    text = metadata.decode("utf-8")
    assert "License-Expression: MIT" in text
    assert "Project-URL: FLORA, https://app.flora.ai" in text
    assert "Classifier: Operating System :: POSIX :: Linux" in text
    assert "Requires-Dist: pystray<0.20,>=0.19.5" in text

    # Installed from the wheel, the missing-config hint names the packaged example.
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import floradrop.config.loader as m\nprint(m.__file__, m.example_config_file())",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    module, found = probe.stdout.split()
    assert module.startswith(str(tmp_path / "site"))
    assert found == str(tmp_path / "site" / "floradrop" / "config" / "floradrop.example.toml")

    # The emulator, installed from the wheel, starts and answers on loopback.
    serve = (
        "import httpx, flora_emulator as e\n"
        "with e.Emulator() as emu:\n"
        "    r = httpx.get(emu.base_url + '/techniques',"
        " headers={'Authorization': 'Bearer ' + emu.api_key})\n"
        "    print(e.__file__, r.status_code)"
    )
    probe = subprocess.run(
        [sys.executable, "-c", serve],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    module, status = probe.stdout.split()
    assert module == str(tmp_path / "site" / "flora_emulator" / "__init__.py")
    assert status == "200"
