"""floradrop's configuration: one typed, frozen object read from a TOML file.

Read it with :func:`load_config`; pass the :class:`Config` to whoever needs it (there is no
global registry). The modules, in the order a file is read:

* :mod:`~floradrop.config.loader`: find, read and parse the file; reload it when it changes;
* :mod:`~floradrop.config.settings`: ``[flora]``, ``[daemon]``, the environment overrides, the
  cross-folder checks;
* :mod:`~floradrop.config.folders`: ``[[folders]]`` and ``[[folders.rules]]``;
* :mod:`~floradrop.config.bindings`: how a technique input gets its value;
* :mod:`~floradrop.config.fields`: paths, slugs and glob lists;
* :mod:`~floradrop.config.problems` and :mod:`~floradrop.config.report`: errors that name the
  file, the key path, the value and the fix.
"""

from floradrop.config.bindings import Binding, BindingKind
from floradrop.config.folders import FolderConfig, Rule
from floradrop.config.hosting import HostingSettings
from floradrop.config.loader import ConfigWatcher, config_path, load_config, parse_config
from floradrop.config.problems import InvalidConfigError, Problem
from floradrop.config.settings import Config, DaemonSettings, FloraSettings, UiSettings
from floradrop.errors import ConfigError

__all__ = [
    "Binding",
    "BindingKind",
    "Config",
    "ConfigError",
    "ConfigWatcher",
    "DaemonSettings",
    "FloraSettings",
    "FolderConfig",
    "HostingSettings",
    "InvalidConfigError",
    "Problem",
    "Rule",
    "UiSettings",
    "config_path",
    "load_config",
    "parse_config",
]
