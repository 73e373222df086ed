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
    ({"fit": {"model": "statc"}}, r"\[fit\] model 'statc' is not a registered model; choose one of \[.*'static'"),
    ({"fit": {"q_mode": "both"}}, r"\[fit\] q_mode must be one of \['independent', 'joint'\]"),
    ({"cmc": {"shard_by": "angle"}}, r"\[cmc\] shard_by must be one of"),
    ({"cmc": {"priors": {"D9": {"kind": "normal"}}}}, r"\[cmc\] priors.D9: model 'static' has no parameter 'D9'"),
    ({"cmc": {"priors": {"D0": {"kind": "nomal"}}}}, r"\[cmc\] priors.D0: unknown prior kind 'nomal'"),
    ({"cmc": {"priors": {"D0": {"kind": "normal", "lok": 1.0}}}}, r"unknown key\(s\) \['lok'\] in \[cmc\] priors.D0"),
    ({"cmc": {"priors": {"D0": {"loc": 1.0}}}}, r"\[cmc\] priors.D0 needs a kind"),
    ({"cmc": {"priors": {"D0": {"kind": "normal", "scale": "1"}}}}, r"priors.D0.scale must be a finite number"),
    ({"cmc": {"priors": {"D0": {"kind": "normal", "scale": 0.0}}}}, r"priors.D0: prior scale must be > 0"),
    ({"cmc": {"priors": {"D0": {"kind": "normal", "loc": 1e9, "scale": 1.0}}}}, r"priors.D0: .*no mass inside"),
    ({"cmc": {"priors": {"D0": {"kind": "normal", "loc": 50.0, "scale": 1.0}}}, "fit": {"bounds": {"D0": [1e3, 1e4]}}},
     r"priors.D0: .*no mass inside the bounds"),  # checked against the [fit] bounds, not the registry's
    ({"cmc": {"priors": {"alpha": {"kind": "normal"}}}, "fit": {"fixed": {"alpha": 0.0}}}, r"priors.alpha: .*fixed"),
    ({"cmc": {"priors": {"D0": 3.0}}}, r"\[cmc\] priors.D0 must be a table"),
    ({"cmc": {"run": True}, "fit": {"model": "single_exponential"}}, r"\[cmc\] needs a two-time model"),
])
def test_bad_config_is_named(cfg, match):
    with pytest.raises(ConfigError, match=match):
        merge_config(cfg)


def test_priors_round_trip_and_take_prior_objects(tmp_path):
    from xpcsnb.fit.priors import resolve_priors
    from xpcsnb.models import Prior
    from xpcsnb.pipeline.config import priors_of

    given = {"D0": Prior("lognormal", 9.2, 1.0), "contrast_0": {"kind": "uniform"},
             "offset": {"kind": "normal", "loc": 1, "scale": 0.1}}
    cfg = merge_config({"cmc": {"run": True, "priors": given}})
    path = tmp_path / "analysis.toml"
    path.write_text(dumps(cfg))
    assert 'priors = {D0 = {kind = "lognormal", loc = 9.2, scale = 1.0}' in path.read_text()
    back = load_config(path)
    assert back == cfg and back["cmc"]["run"] is True
    priors = priors_of(back)  # the objects fit_cmc(priors=...) takes
    assert priors == {"D0": Prior("lognormal", 9.2, 1.0), "contrast_0": Prior("uniform", 0.0, 1.0),
                      "offset": Prior("normal", 1.0, 0.1)}
    got = resolve_priors("static", ["D0", "contrast_0", "offset_0"], [1e2, 0, 0.5], [1e5, 1, 1.5], priors=priors)
    assert {k: (v.prior, v.source) for k, v in got.items()} == {k: (priors[b], "user") for k, b in
                                                                 [("D0", "D0"), ("contrast_0", "contrast_0"),
                                                                  ("offset_0", "offset")]}


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
