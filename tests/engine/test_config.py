"""The configuration: every key, every binding form, every refusal, and the error texts."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from floradrop import paths
from floradrop.config import (
    Binding,
    Config,
    ConfigError,
    ConfigWatcher,
    DaemonSettings,
    FloraSettings,
    FolderConfig,
    HostingSettings,
    InvalidConfigError,
    Rule,
    config_path,
    load_config,
    parse_config,
)
from floradrop.config.loader import example_config_file

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "floradrop.example.toml"


def folder(path: Path | str, **extra: Any) -> dict[str, Any]:
    return {"path": str(path), "technique": "cctv-cam", **extra}


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidConfigError) as info:
        parse_config(data)
    return [str(p) for p in info.value.problems]


def only_problem(data: dict[str, Any]) -> str:
    found = problems(data)
    assert len(found) == 1, found
    return found[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the example file ---------------------------------------------------------------------


def test_the_example_config_loads(isolated_home: Path) -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    names = [f.name for f in config.folders]
    assert names == ["CCTV Cam", "Color Transfer", "Studio"]
    cctv, color, studio = config.folders
    assert cctv.path == isolated_home / "FLORA" / "CCTV Cam" / "inbox"
    assert cctv.outputs == isolated_home / "FLORA" / "CCTV Cam" / "inbox-outputs"
    assert [r.technique for r in cctv.effective_rules()] == ["cctv-cam"]
    assert color.inputs["reference_image"] == Binding(
        kind="path", value=str(isolated_home / "FLORA" / "Color Transfer" / "reference.jpg")
    )
    assert color.outputs == isolated_home / "FLORA" / "Color Transfer" / "graded"
    assert [r.technique for r in studio.effective_rules()] == ["cctv-cam", "cctv-cam", "icon-pack"]
    kinds = {b.kind for f in config.folders for r in f.effective_rules() for b in r.inputs.values()}
    assert kinds == {"file", "text", "literal", "path", "sidecar"}


def test_the_example_documents_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for model in (FloraSettings, DaemonSettings, FolderConfig, Rule, HostingSettings):
        for key in model.model_fields:
            documented = rf"^#? ?{key} = |^\[\[folders\.{key}\]\]$"
            assert re.search(documented, text, re.MULTILINE), f"{model.__name__}.{key}"


def test_the_examples_stated_defaults_are_the_real_defaults() -> None:
    table = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    defaults = DaemonSettings()
    for key, value in table["daemon"].items():
        assert getattr(defaults, key) == value, key
    assert table["flora"]["base_url"] == FloraSettings().base_url


# -- defaults and paths ----------------------------------------------------------------------


def test_a_folder_and_a_slug_is_a_whole_config(tmp_path: Path) -> None:
    config = parse_config({"folders": [folder(tmp_path / "Photos")]})
    (only,) = config.folders
    assert only.name == "Photos"
    assert only.outputs == tmp_path / "Photos-outputs"
    assert only.done == tmp_path / "Photos-done"
    assert only.failed == tmp_path / "Photos-failed"
    assert (only.match, only.ignore, only.recursive, only.observer, only.after) == (
        ("*",),
        (),
        False,
        "native",
        "move",
    )
    assert only.effective_rules() == (Rule(technique="cctv-cam"),)
    assert config.daemon.state_dir == paths.state_dir()
    assert config.daemon.log_dir == paths.log_dir()
    assert config.flora.base_url == "https://app.flora.ai/api/v1"


def test_an_inbox_is_named_after_its_parent(tmp_path: Path) -> None:
    config = parse_config({"folders": [folder(tmp_path / "CCTV Cam" / "inbox")]})
    assert config.folders[0].name == "CCTV Cam"
    assert config.folders[0].outputs == tmp_path / "CCTV Cam" / "inbox-outputs"
    named = parse_config({"folders": [folder(tmp_path / "inbox", name="  Mine ")]})
    assert named.folders[0].name == "Mine"


def test_zero_folders_is_allowed() -> None:
    assert parse_config({}).folders == ()


def test_paths_expand_home_and_variables(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DROPS", str(tmp_path))
    config = parse_config(
        {
            "folders": [
                folder("~/FLORA/a"),
                folder("$DROPS/b", outputs="${DROPS}/b-out"),
            ],
            "daemon": {"state_dir": "~/state"},
        }
    )
    assert config.folders[0].path == isolated_home / "FLORA" / "a"
    assert config.folders[1].path == tmp_path / "b"
    assert config.folders[1].outputs == tmp_path / "b-out"
    assert config.daemon.state_dir == isolated_home / "state"


def test_paths_are_resolved_through_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    config = parse_config({"folders": [folder(tmp_path / "link" / "inbox")]})
    assert config.folders[0].path == real / "inbox"


def test_loading_creates_no_folders(tmp_path: Path) -> None:
    parse_config({"folders": [folder(tmp_path / "new" / "inbox")]})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("inbox", "is a relative path"),
        ("", "is empty"),
        (
            "$NOT_SET_ANYWHERE/x",
            "uses the environment variable $NOT_SET_ANYWHERE, which is not set",
        ),
        ("/", "is the root of the file system"),
    ],
)
def test_bad_folder_paths(path: str, problem: str) -> None:
    text = only_problem({"folders": [folder(path)]})
    assert "folders[0].path: " + problem in text


def test_a_bad_path_does_not_also_report_the_keys_derived_from_it() -> None:
    assert len(problems({"folders": [{"technique": "cctv-cam"}]})) == 1


# -- bindings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "kind", "value"),
    [
        ("file", "file", None),
        ("text", "text", None),
        ("sidecar", "sidecar", ".txt"),
        ("sidecar:.md", "sidecar", ".md"),
        ("sidecar:md", "sidecar", ".md"),
        ("sidecar:.prompt.txt", "sidecar", ".prompt.txt"),
        ("literal:Make it pop", "literal", "Make it pop"),
        ("literal:a: b", "literal", "a: b"),
        ("Literal:Shout", "literal", "Shout"),
        ({"file": True}, "file", None),
        ({"text": True}, "text", None),
        ({"literal": "Make it pop"}, "literal", "Make it pop"),
        ({"sidecar": ".md"}, "sidecar", ".md"),
        ({"sidecar": True}, "sidecar", ".txt"),
        ({"kind": "literal", "value": "x"}, "literal", "x"),
        ({"kind": "file"}, "file", None),
    ],
)
def test_binding_forms(written: object, kind: str, value: str | None) -> None:
    binding = Binding.model_validate(written)
    assert (binding.kind, binding.value) == (kind, value)
    assert Binding.model_validate(binding.to_toml()) == binding


def test_path_bindings_are_expanded(isolated_home: Path) -> None:
    for written in ("path:~/ref.png", {"path": "~/ref.png"}):
        assert Binding.model_validate(written) == Binding(
            kind="path", value=str(isolated_home / "ref.png")
        )


@pytest.mark.parametrize(
    ("written", "problem", "fix"),
    [
        ("Make it pop", "is not an input binding", 'write "literal:Make it pop"'),
        ("literal:", "is an empty literal", '"literal:Make it pop"'),
        ("literal", "needs a value after 'literal'", '"literal:Make it pop"'),
        ("path", "needs a value after 'path'", '"path:~/ref.png"'),
        ("path:ref.png", "is a relative path", "path:~/FLORA/reference.png"),
        ("sidecar:../x.txt", "is not a sidecar suffix", '"sidecar:.txt"'),
        ("file:x", "is not an input binding", "the forms are"),
        ({"file": False}, "needs file = true", "{ file = true }"),
        ({"literal": "a", "path": "/b"}, "must have exactly one key", "{ literal ="),
        ({"upload": "/b"}, "has an unknown binding kind 'upload'", '"sidecar:.md"'),
        ({"kind": "bogus", "value": "x"}, "is not an input binding", '"path:~/ref.png"'),
        ({"path": 3}, "needs a file path", '"path:~/ref.png"'),
        (42, "is not an input binding", '"file", "text"'),
    ],
)
def test_bad_bindings_say_which_forms_exist(written: object, problem: str, fix: str) -> None:
    text = only_problem({"folders": [folder("/x/in", inputs={"prompt": written})]})
    assert text.startswith("configuration: folders[0].inputs.prompt: " + problem)
    assert fix in text


# -- rules ---------------------------------------------------------------------------------


def test_rules_come_first_and_the_folder_technique_last(tmp_path: Path) -> None:
    config = parse_config(
        {
            "folders": [
                {
                    "path": str(tmp_path / "in"),
                    "technique": "palette-pull",
                    "match": ".png",
                    "inputs": {"input_image": "file"},
                    "rules": [
                        {"match": "*.txt", "technique": "icon-pack", "inputs": {"prompt": "text"}},
                        {"match": ["*.mp4", "*.mov"], "technique": "product-motion"},
                    ],
                }
            ]
        }
    )
    (f,) = config.folders
    rules = f.effective_rules()
    assert [r.technique for r in rules] == ["icon-pack", "product-motion", "palette-pull"]
    assert rules[0].match == ("*.txt",)
    assert rules[2].match == ("*.png",)  # a bare extension means *.png
    assert rules[2].inputs == {"input_image": Binding(kind="file")}
    assert f.rule_keys("folders[0]") == ("folders[0].rules[0]", "folders[0].rules[1]", "folders[0]")


def test_rules_without_a_folder_technique(tmp_path: Path) -> None:
    config = parse_config(
        {
            "folders": [
                {
                    "path": str(tmp_path / "in"),
                    "rules": {"match": "*.txt", "technique": "icon-pack"},
                }
            ]
        }
    )
    assert [r.technique for r in config.folders[0].effective_rules()] == ["icon-pack"]
    assert config.folders[0].rule_keys("f") == ("f.rules[0]",)


def test_one_folders_table_is_a_list_of_one(tmp_path: Path) -> None:
    config = parse_config({"folders": folder(tmp_path / "in")})
    assert len(config.folders) == 1


def test_a_folder_needs_a_technique() -> None:
    text = only_problem({"folders": [{"path": "/x/in"}]})
    assert "folders[0]: has no technique" in text
    assert 'technique = "cctv-cam"' in text


def test_folder_inputs_need_a_folder_technique() -> None:
    text = only_problem(
        {
            "folders": [
                {
                    "path": "/x/in",
                    "inputs": {"prompt": "text"},
                    "rules": [{"technique": "icon-pack"}],
                }
            ]
        }
    )
    assert (
        "folders[0]: has folder-level `match` or `inputs` but no folder-level `technique`" in text
    )


@pytest.mark.parametrize(
    ("match", "problem"),
    [
        ([], "is an empty list, so it matches nothing"),
        ("*.{png,jpg}", "uses {a,b} braces"),
        ([""], "has an empty or non-text file name pattern"),
        (5, "must be a file name pattern or a list of them"),
    ],
)
def test_bad_match_patterns(match: object, problem: str) -> None:
    text = only_problem({"folders": [folder("/x/in", match=match)]})
    assert "folders[0].match: " + problem in text


@pytest.mark.parametrize("slug", ["cctv cam", "", "a/b", 7])
def test_bad_technique_slugs(slug: object) -> None:
    text = only_problem({"folders": [{"path": "/x/in", "rules": [{"technique": slug}]}]})
    assert "folders[0].rules[0].technique: is not a technique slug or id" in text
    assert "floradrop techniques" in text


def test_technique_ids_are_accepted() -> None:
    config = parse_config({"folders": [{"path": "/x/in", "technique": "tech_01JZ9"}]})
    assert config.folders[0].technique == "tech_01JZ9"


# -- refusals across folders -------------------------------------------------------------


def test_a_folder_watched_twice_is_refused(tmp_path: Path) -> None:
    text = only_problem({"folders": [folder(tmp_path / "in"), folder(f"{tmp_path}/x/../in")]})
    assert "folders[1].path: watches the same folder as folders[0]" in text
    assert str(tmp_path / "in") in text


def test_nested_watched_folders_are_refused(tmp_path: Path) -> None:
    found = problems(
        {
            "folders": [
                folder(tmp_path / "in", outputs=str(tmp_path / "o1")),
                folder(tmp_path / "in" / "sub", outputs=str(tmp_path / "o2")),
            ]
        }
    )
    nested = [p for p in found if "folders[1].path: is inside the watched folder" in p]
    assert nested, found
    assert f"{tmp_path / 'in'} (folders[0])" in nested[0]


def test_outputs_inside_the_watched_folder_are_refused(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    text = only_problem({"folders": [folder(inbox, outputs=str(inbox / "out"))]})
    assert text == (
        f"configuration: folders[0].outputs: is inside the watched folder {inbox}: floradrop "
        f'would process its own outputs (got "{inbox / "out"}"). Put it next to the folder, '
        f"e.g. {tmp_path / 'in-outputs'}."
    )


@pytest.mark.parametrize("key", ["done", "failed"])  # outputs may: a chain (tests/workflows)
def test_no_sibling_may_be_another_watched_folder(tmp_path: Path, key: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    text = only_problem({"folders": [folder(a, **{key: str(b)}), folder(b)]})
    assert f"folders[0].{key}: is the watched folder {b}" in text


def test_the_journal_and_logs_stay_out_of_watched_folders(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    found = problems(
        {
            "folders": [folder(inbox)],
            "daemon": {"state_dir": str(inbox / "state"), "log_dir": str(inbox)},
        }
    )
    assert any("daemon.state_dir: is inside the watched folder" in p for p in found)
    assert any("daemon.log_dir: is inside the watched folder" in p for p in found)


def test_folders_side_by_side_are_fine(tmp_path: Path) -> None:
    config = parse_config(
        {
            "folders": [
                folder(tmp_path / "in"),
                folder(tmp_path / "in-2"),  # a name that starts like the other is not inside it
                folder(tmp_path / "x", outputs=str(tmp_path / "in-outputs")),  # shared outputs
            ]
        }
    )
    assert len(config.folders) == 3


# -- [flora] and [daemon] ------------------------------------------------------------------


def test_the_api_key_is_refused_and_never_echoed() -> None:
    secret = "sk_live_abcdef123456"
    with pytest.raises(InvalidConfigError) as info:
        parse_config({"flora": {"api_key": secret}})
    text = info.value.describe()
    assert secret not in text
    assert "flora.api_key: is not a known key (got (hidden))" in text
    assert "FLORA_API_KEY" in text
    assert "keyring" in text


def test_secret_looking_values_are_hidden_anywhere() -> None:
    text = only_problem({"flora": {"workspace_id": "sk_live_abcdef123456"}})
    assert "abcdef123456" not in text
    assert "sk_(hidden)" in text


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://app.flora.ai/api/v1/", "https://app.flora.ai/api/v1"),
        ("http://127.0.0.1:8765/api/v1", "http://127.0.0.1:8765/api/v1"),
        ("http://localhost:1/api/v1", "http://localhost:1/api/v1"),
    ],
)
def test_base_urls(url: str, expected: str) -> None:
    assert parse_config({"flora": {"base_url": url}}).flora.base_url == expected


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://flora.example.com/api/v1", "uses plain http"),
        ("app.flora.ai", "is not an http(s) address"),
        ("ftp://x/y", "is not an http(s) address"),
    ],
)
def test_bad_base_urls(url: str, problem: str) -> None:
    assert "flora.base_url: " + problem in only_problem({"flora": {"base_url": url}})


def test_workspace_ids_start_with_ws() -> None:
    assert parse_config({"flora": {"workspace_id": "ws_123"}}).flora.workspace_id == "ws_123"
    text = only_problem({"flora": {"workspace_id": "123"}})
    assert 'flora.workspace_id: is not a workspace id (got "123")' in text


def test_log_level_is_case_insensitive() -> None:
    assert parse_config({"daemon": {"log_level": "debug"}}).daemon.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("daemon", "expected"),
    [
        (
            {"max_concurrent_runs": "x"},
            'daemon.max_concurrent_runs: must be a whole number (got "x"). '
            "Write it without quotes, e.g. max_concurrent_runs = 8.",
        ),
        (
            {"max_concurrent_uploads": 0},
            "daemon.max_concurrent_uploads: is out of range (got 0). Use a value from 1 to 32.",
        ),
        (
            {"poll_interval_seconds": 1},
            "daemon.poll_interval_seconds: is out of range (got 1). Use a value from 2 to 60.",
        ),
        (
            {"settle_seconds": "soon"},
            'daemon.settle_seconds: must be a number (got "soon"). '
            "Write it without quotes, e.g. settle_seconds = 1.0.",
        ),
        (
            {"rescan_seconds": 1},
            "daemon.rescan_seconds: is out of range (got 1). Use a value of at least 10.",
        ),
        (
            {"run_timeout_minutes": 0},
            "daemon.run_timeout_minutes: is out of range (got 0). "
            "Use a value above 0 and up to 1440.",
        ),
        (
            {"daily_budget_usd": -1},
            "daemon.daily_budget_usd: is out of range (got -1). Use a value of at least 0.",
        ),
        ({"notifications": "maybe"}, 'daemon.notifications: must be true or false (got "maybe")'),
        (
            {"duplicates": "skp"},
            "daemon.duplicates: must be 'skip' or 'process' (got \"skp\"). Did you mean 'skip'?",
        ),
        ({"log_level": "LOUD"}, "daemon.log_level: must be 'TRACE', 'DEBUG', 'INFO'"),
        (
            {"settle_secnds": 3},
            "daemon.settle_secnds: is not a known key (got 3). Did you mean `settle_seconds`?",
        ),
    ],
)
def test_daemon_problems_name_key_value_and_fix(daemon: dict[str, Any], expected: str) -> None:
    assert expected in only_problem({"daemon": daemon})


def test_typos_of_folder_and_rule_keys(tmp_path: Path) -> None:
    found = problems(
        {
            "folders": [
                {
                    "path": str(tmp_path / "in"),
                    "techniqe": "cctv-cam",
                    "rules": [{"technique": "icon-pack", "ipnuts": {}}],
                    "obsever": "polling",
                }
            ],
            "folder": [],
        }
    )
    joined = "\n".join(found)
    assert "folders[0].techniqe: is not a known key" in joined
    assert "Did you mean `technique`?" in joined
    assert (
        "folders[0].rules[0].ipnuts: is not a known key (got {}). Did you mean `inputs`?" in joined
    )
    assert "folders[0].obsever: is not a known key" in joined
    assert "Did you mean `observer`?" in joined
    assert "folder: is not a known key (got []). Did you mean `folders`?" in joined


def test_unknown_keys_without_a_near_miss_list_the_allowed_ones() -> None:
    text = only_problem({"flora": {"colour": "red"}})
    assert "flora.colour: is not a known key" in text
    assert "the keys allowed here are base_url, workspace_id, api_key_file" in text


def test_wrong_shapes_of_tables() -> None:
    assert "daemon: must be a table (got 5). Write it as a [daemon] table" in only_problem(
        {"daemon": 5}
    )
    assert "folders: must be a list (got 3). Write each folder as its own [[folders]] table" in (
        only_problem({"folders": 3})
    )


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError) as info:
        parse_config(
            {
                "daemon": {"max_concurrent_runs": 0, "settle_secnds": 1},
                "folders": [folder(tmp_path / "a", observer="inotify"), folder("relative")],
            }
        )
    assert len(info.value.problems) == 4
    assert info.value.message.startswith("4 problems in the configuration:\n  - ")
    assert info.value.hint and "floradrop check" in info.value.hint


def test_the_config_is_frozen_and_hashable(tmp_path: Path) -> None:
    config = parse_config({"folders": [folder(tmp_path / "in", inputs={"prompt": "sidecar"})]})
    with pytest.raises(ValidationError):
        config.daemon = DaemonSettings()  # type: ignore[misc]
    with pytest.raises(ValidationError):
        config.folders[0].technique = "x"  # type: ignore[misc]
    assert hash(config) == hash(
        parse_config({"folders": [folder(tmp_path / "in", inputs={"prompt": "sidecar"})]})
    )
    assert len({config.folders[0], config.folders[0].model_copy()}) == 1


# -- the environment ----------------------------------------------------------------------


def test_floradrop_variables_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path / "c.toml", "[daemon]\nmax_concurrent_runs = 5\nsettle_seconds = 2\n")
    monkeypatch.setenv("FLORADROP_DAEMON__MAX_CONCURRENT_RUNS", "2")
    monkeypatch.setenv("FLORADROP_DAEMON__HEADLESS", "true")
    config = load_config(file)
    assert config.daemon.max_concurrent_runs == 2
    assert config.daemon.headless is True
    assert config.daemon.settle_seconds == 2  # the rest of the table still comes from the file


def test_base_url_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = write(tmp_path / "c.toml", '[flora]\nbase_url = "https://file.example/api/v1"\n')
    assert load_config(file).flora.base_url == "https://file.example/api/v1"
    monkeypatch.setenv("FLORA_BASE_URL", "http://127.0.0.1:9/api/v1")
    assert load_config(file).flora.base_url == "http://127.0.0.1:9/api/v1"
    monkeypatch.setenv("FLORADROP_FLORA__BASE_URL", "https://env.example/api/v1")
    assert load_config(file).flora.base_url == "https://env.example/api/v1"


def test_empty_variables_are_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLORADROP_DAEMON__MAX_CONCURRENT_RUNS", "")
    monkeypatch.setenv("FLORA_BASE_URL", " ")
    config = parse_config({})
    assert config.daemon.max_concurrent_runs == 8
    assert config.flora.base_url == "https://app.flora.ai/api/v1"


def test_a_bad_variable_is_named_as_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = write(tmp_path / "c.toml", "")
    monkeypatch.setenv("FLORADROP_DAEMON__MAX_CONCURRENT_RUNS", "lots")
    monkeypatch.setenv("FLORA_BASE_URL", "http://flora.example.com")
    with pytest.raises(InvalidConfigError) as info:
        load_config(file)
    text = info.value.message
    assert (
        "environment variable FLORADROP_DAEMON__MAX_CONCURRENT_RUNS: daemon.max_concurrent_runs: "
        'must be a whole number (got "lots"). Set it like FLORADROP_DAEMON__MAX_CONCURRENT_RUNS=8.'
    ) in text
    assert "environment variable FLORA_BASE_URL: flora.base_url: uses plain http" in text
    assert info.value.hint == (
        "Fix or unset the environment variable(s) above, then start floradrop again."
    )


def test_a_variable_holding_bad_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLORADROP_FOLDERS", '[{"path": ')
    with pytest.raises(ConfigError) as info:
        parse_config({})
    assert info.value.message == "environment variable FLORADROP_FOLDERS: is not valid JSON"
    assert info.value.hint and "written as JSON" in info.value.hint


def test_folders_from_a_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLORADROP_FOLDERS", f'[{{"path": "{tmp_path}", "technique": "icon-pack"}}]')
    assert parse_config({}).folders[0].technique == "icon-pack"


def test_floradrop_config_chooses_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = write(tmp_path / "elsewhere.toml", "[daemon]\nmax_concurrent_runs = 3\n")
    monkeypatch.setenv("FLORADROP_CONFIG", str(file))
    assert config_path() == file
    assert load_config().daemon.max_concurrent_runs == 3
    assert load_config().source == file


def test_the_default_file_is_in_the_config_dir() -> None:
    assert config_path() == paths.config_dir() / "config.toml"


# -- reading the file ---------------------------------------------------------------------


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml")
    assert str(tmp_path / "nope.toml") in info.value.message
    example = example_config_file()
    assert info.value.hint == (
        f"run `floradrop init`, or copy the commented example {example} to "
        f"{tmp_path / 'nope.toml'} and edit it"
    )
    assert example.is_file() and example.name == "floradrop.example.toml"  # a real file


def test_toml_syntax_errors_give_line_and_column(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", "[daemon]\nsettle_seconds = 1\nlog_level = INFO\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert info.value.message.startswith(f"{file}: TOML syntax error: ")
    assert "line 3, column 13" in info.value.message
    assert info.value.hint and "quotes" in info.value.hint


def test_windows_backslashes_get_a_hint(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '[[folders]]\npath = "C:\\Users\\me"\n')
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert "line 2" in info.value.message
    assert info.value.hint and "single quotes" in info.value.hint


def test_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    file = write(
        tmp_path / "c.toml",
        '[[folders]]\npath = "/x/in"\ntechnique = "cctv-cam"\nafter = "delete"\n',
    )
    with pytest.raises(InvalidConfigError) as info:
        load_config(file)
    assert str(info.value) == (
        f"{file}: folders[0].after: must be 'move' or 'keep' (got \"delete\"). "
        "Use 'move' or 'keep'."
    )


def test_a_utf8_bom_is_fine_and_other_encodings_are_not(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_bytes("\ufeff[daemon]\nmax_concurrent_runs = 3\n".encode())
    assert load_config(file).daemon.max_concurrent_runs == 3
    file.write_bytes('[[folders]]\npath = "/x/caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load_config(file)


def test_a_folder_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a configuration file"):
        load_config(tmp_path)


def test_private_top_level_keys_are_refused(tmp_path: Path) -> None:
    file = write(tmp_path / "c.toml", '_env_file = "/etc/passwd"\n')
    with pytest.raises(InvalidConfigError) as info:
        load_config(file)
    assert str(info.value) == f"{file}: _env_file: is not a known key. Remove it."


# -- reloading -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.changes: list[Config] = []
        self.errors: list[ConfigError] = []

    def watcher(self, file: Path, current: Config | None) -> ConfigWatcher:
        return ConfigWatcher(file, self.changes.append, self.errors.append, current=current)


_tick = [1_700_000_000_000_000_000]


def save(path: Path, text: str) -> None:
    """Write and move the mtime forward (coarse file-system clocks would hide a fast edit)."""
    path.write_text(text, encoding="utf-8")
    _tick[0] += 1_000_000_000
    os.utime(path, ns=(_tick[0], _tick[0]))


def test_the_watcher_applies_a_good_edit_once(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    save(file, "[daemon]\nmax_concurrent_runs = 3\n")
    rec = Recorder()
    watcher = rec.watcher(file, load_config(file))
    assert watcher.check() is None  # the same bytes as the config in use
    save(file, "[daemon]\nmax_concurrent_runs = 3\n")  # touched, not changed
    assert watcher.check() is None
    save(file, "[daemon]\nmax_concurrent_runs = 5\n")
    new = watcher.check()
    assert new is not None and new.daemon.max_concurrent_runs == 5
    assert watcher.check() is None
    assert [c.daemon.max_concurrent_runs for c in rec.changes] == [5]
    assert watcher.config is new
    assert rec.errors == []


def test_the_watcher_keeps_the_last_good_config_and_reports_a_bad_edit_once(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    save(file, "[daemon]\nmax_concurrent_runs = 3\n")
    good = load_config(file)
    rec = Recorder()
    watcher = rec.watcher(file, good)
    save(file, "[daemon]\nmax_concurrent_runs = 0\n")
    assert watcher.check() is None
    assert rec.errors == []  # maybe an editor half-way through a save: look again first
    assert watcher.check() is None
    assert len(rec.errors) == 1
    assert "daemon.max_concurrent_runs: is out of range" in rec.errors[0].message
    assert rec.errors[0].hint and "keeps the last good configuration" in rec.errors[0].hint
    for _ in range(3):
        assert watcher.check() is None
    assert len(rec.errors) == 1
    assert watcher.config is good
    save(file, "[daemon]\nmax_concurrent_runs = 4\n")
    assert watcher.check() is not None
    assert [c.daemon.max_concurrent_runs for c in rec.changes] == [4]


def test_a_half_saved_file_is_not_reported(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    save(file, "[daemon]\nmax_concurrent_runs = 3\n")
    rec = Recorder()
    watcher = rec.watcher(file, load_config(file))
    save(file, "[daemon]\nmax_concurrent_r")
    assert watcher.check() is None
    save(file, "[daemon]\nmax_concurrent_runs = 6\n")
    assert watcher.check() is not None
    assert rec.errors == []


def test_the_watcher_reports_a_removed_file(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    save(file, "")
    rec = Recorder()
    watcher = rec.watcher(file, load_config(file))
    file.unlink()
    watcher.check()
    watcher.check()
    watcher.check()
    assert len(rec.errors) == 1
    assert "was removed" in rec.errors[0].message
    save(file, "[daemon]\nheadless = true\n")
    assert watcher.check() is not None
    assert rec.changes[-1].daemon.headless is True


def test_a_watcher_without_a_config_loads_on_first_check(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    save(file, "")
    rec = Recorder()
    assert rec.watcher(file, None).check() is not None
    assert len(rec.changes) == 1
