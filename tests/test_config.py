"""The typed parameter schema: unknown keys, wrong types and missing values are clear errors."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest

from stprompt.config import ConfigError, config_hash, from_dict, load_yaml, profile_path, to_dict


@dataclasses.dataclass
class Inner:
    k: int = 3  # a count


@dataclasses.dataclass
class Outer:
    name: str  # required
    lr: float = 1e-3  # learning rate
    sizes: tuple[int, int] = (2, 3)  # rows, cols
    mode: Literal["mid", "mean"] = "mid"  # frame choice
    tags: list[str] = dataclasses.field(default_factory=list)  # free labels
    inner: Inner = dataclasses.field(default_factory=Inner)  # nested block
    limit: int | None = None  # optional cap


def test_valid_mapping_builds_typed_dataclass():
    cfg = from_dict(Outer, {"name": "a", "lr": 1, "sizes": [4, 5], "inner": {"k": 7}, "limit": None})
    assert cfg == Outer(name="a", lr=1.0, sizes=(4, 5), inner=Inner(k=7))
    assert isinstance(cfg.lr, float) and isinstance(cfg.sizes, tuple)
    assert to_dict(cfg)["sizes"] == [4, 5]
    assert config_hash(cfg) == config_hash(from_dict(Outer, to_dict(cfg)))
    assert config_hash(cfg) != config_hash(dataclasses.replace(cfg, lr=2.0))


@pytest.mark.parametrize("data, pattern", [
    ({"name": "a", "lrr": 1.0}, r"src.yaml: unknown key 'lrr'; did you mean 'lr'\?"),
    ({"name": "a", "lr": "fast"}, r"key 'lr': expected float, got 'fast' \(str\)"),
    ({"name": "a", "sizes": [1, 2, 3]}, r"key 'sizes': expected 2 items, got 3"),
    ({"name": "a", "mode": "median"}, r"key 'mode': expected one of \['mid', 'mean'\], got 'median'"),
    ({"name": "a", "inner": {"k": True}}, r"key 'k': expected int, got True \(bool\)"),
    ({"name": "a", "inner": {"kk": 1}}, r"unknown key 'kk'; did you mean 'k'"),
    ({"name": "a", "limit": 2.5}, r"key 'limit': expected int or null, got 2.5"),
    ({"lr": 1.0}, r"key 'name' is required \(str\) but missing"),
    ({"name": "a", "tags": "x"}, r"key 'tags': expected a list, got 'x'"),
])
def test_bad_values_are_named(data, pattern):
    with pytest.raises(ConfigError, match=pattern):
        from_dict(Outer, data, source="src.yaml")


def test_yaml_file_errors_name_the_file(tmp_path):
    p = tmp_path / "cfg.yaml"
    p.write_text("name: a\nlr: [1\n")
    with pytest.raises(ConfigError, match="cfg.yaml: not valid YAML"):
        load_yaml(Outer, p)
    with pytest.raises(ConfigError, match="missing.yaml: parameter file not found"):
        load_yaml(Outer, tmp_path / "missing.yaml")
    p.write_text("name: a\nmdoe: mid\n")
    with pytest.raises(ConfigError, match=r"cfg.yaml: unknown key 'mdoe'; did you mean 'mode'"):
        load_yaml(Outer, p)


def test_profile_lookup_by_name_folder_and_path(tmp_path):
    (tmp_path / "a.yaml").write_text("name: a\n")
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "profile.yaml").write_text("{}\n")
    assert profile_path("a", tmp_path) == tmp_path / "a.yaml"
    assert profile_path("smoke", tmp_path) == tmp_path / "smoke" / "profile.yaml"
    assert profile_path(str(tmp_path / "a.yaml")) == tmp_path / "a.yaml"
    with pytest.raises(ConfigError, match=r"profile 'nope'.*available: a, smoke"):
        profile_path("nope", tmp_path)
