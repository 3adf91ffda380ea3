"""Entry point of the PyInstaller build (packaging/floradrop.spec).

One script serves both executables of the build: ``floradrop`` (the CLI) and, on Windows,
``floradrop-gui`` (no console window; what the login entry starts), told apart by name.
"""

import sys
from pathlib import Path

from floradrop.cli import gui_main, main

if __name__ == "__main__":
    if Path(sys.executable).stem.lower() == "floradrop-gui":
        sys.exit(gui_main())
    sys.exit(main())
