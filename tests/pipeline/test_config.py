"""The TOML analysis configuration: round trip, defaults, and every bad key named."""

from __future__ import annotations

import tomllib

import pytest

from xpcsnb.pipeline.config import ConfigError, default_config, dumps, load_config, merge_config, parse_frames


def test_defaults_round_trip_through_toml():
    text = dumps()
    assert merge_config(tomllib.loads(text)) == default_config()


def test_custom_config_round_trips_through_a_file(tmp_path):
    cfg = {"correlate": {"two_time": True, "frames": "0:1000", "bad_frames": [3, 7], "num_bufs": 16},
           "fit": {"model": "laminar_flow", "bounds": {"D0": [1e-3, 1e4]}, "fixed": {"alpha": 0.0}, "free": ["f2"]}}
    path = tmp_path / "analysis.toml"
    path.write_text(dumps(cfg))
    back = load_config(path)
    assert back == merge_config(cfg)
    assert back["correlate"]["bad_frames"] == [3, 7] and back["fit"]["bounds"] == {"D0": [1e-3, 1e4]}
    assert back["correlate"]["chunk"] == default_config()["correlate"]["chunk"]  # untouched keys keep defaults


@pytest.mark.parametrize("cfg, match", [
    ({"fit": {"modle": "static"}}, r"unknown key 'modle' in \[fit\]; valid keys: \[.*'model'"),
    ({"fits": {}}, r"unknown config section \[fits\]; valid sections"),
    ({"correlate": {"num_bufs": "8"}}, r"\[correlate\] num_bufs must be int"),
    ({"correlate": {"two_time": 1}}, r"two_time must be bool"),
    ({"correlate": {"bad_frames": "maybe"}}, "bad_frames must be 'none', 'auto'"),
    ({"correlate": {"frames": "10:5"}}, "start < stop"),
    ({"fit": {"bounds": {"D0": [1.0]}}}, r"bounds.D0 must be a pair"),
    ({"fit": 3}, r"\[fit\] must be a table"),
])
def test_bad_config_is_named(cfg, match):
    with pytest.raises(ConfigError, match=match):
        merge_config(cfg)


def test_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "a.toml"
    bad.write_text("[fit]\nmodle = 'static'\n")
    with pytest.raises(ConfigError, match=r"a.toml: unknown key 'modle'"):
        load_config(bad)
    bad.write_text("[fit\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(FileNotFoundError, match="--print-config"):
        load_config(tmp_path / "missing.toml")


def test_parse_frames():
    assert parse_frames("0:10000") == slice(0, 10000)
    assert parse_frames(":500") == slice(None, 500) and parse_frames("100:") == slice(100, None)
    with pytest.raises(ConfigError, match="start:stop"):
        parse_frames("12")
