"""The wheel a person installs (``pipx install .`` builds the same): the commented example
config inside the package, where the missing-config hint points; the LICENSE; project URLs,
classifiers; pystray capped below its next minor (floradrop uses a private attribute)."""

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
