"""Configuration: the shipped default loads; invalid files fail naming expert, field and fix."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from livemind.config import load_config, parse_config, parse_size
from livemind.engine.catalog import ModelCatalog
from livemind.errors import ConfigError


def _expert(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {"name": "alpha", "model": "smollm2-135m", "persona": "p", "description": "d"}
    base.update(overrides)
    return base


def _doc(*experts: dict[str, object], **extra: object) -> dict[str, object]:
    names = [e["name"] for e in experts]
    doc: dict[str, object] = {"experts": list(experts), "router": {"fallback": names[0]},
                              "debate": {"synthesizer": names[0]}}
    doc.update(extra)
    return doc


def test_default_council_seats_every_persona_on_one_shared_capable_model(catalog: ModelCatalog) -> None:
    config = load_config(None, catalog)
    assert {e.model for e in config.experts} == {"qwen2.5-coder-1.5b"}  # one loaded copy serves them all
    assert {"generalist", "coder", "mathematician", "ethicist", "futurist"} <= set(config.expert_names)
    assert all(e.engine.kv_type == "q8_0" and e.engine.flash_attn for e in config.experts)
    assert config.router.top_k >= 2, "a debate convenes a council, not one expert"


def test_tiny_council_stays_shipped_with_personas_sharing_smollm2(catalog: ModelCatalog) -> None:
    config = load_config(None, catalog, council="tiny")
    smol = [e for e in config.experts if e.model == "smollm2-135m"]
    assert len(smol) >= 3
    assert {"generalist", "coder", "mathematician", "ethicist"} <= set(config.expert_names)


def test_an_unknown_council_name_lists_the_shipped_ones(catalog: ModelCatalog) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, catalog, council="huge")
    assert "unknown council 'huge'" in caught.value.message and "default, tiny" in (caught.value.hint or "")


def test_unknown_model_is_rejected_with_expert_field_and_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(_expert(model="llama-9000")), ModelCatalog(tmp_path))
    err = info.value
    assert err.expert == "alpha" and err.field == "model"
    assert "unknown model 'llama-9000'" in str(err) and "smollm2-135m" in err.hint


def test_bad_kv_type_is_rejected_with_the_valid_types(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(_expert(engine={"kv_type": "fp8"})), ModelCatalog(tmp_path), check_files=False)
    assert info.value.expert == "alpha"
    assert "kv_type" in info.value.field
    assert "f16, q8_0, q4_0" in info.value.hint


def test_quantized_v_cache_without_flash_attention_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(_expert(engine={"kv_type": "q8_0", "flash_attn": False})), ModelCatalog(tmp_path),
                     check_files=False)
    assert info.value.field == "engine.flash_attn"
    assert "flash_attn = true" in info.value.hint


def test_missing_model_file_is_rejected(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.gguf"
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(_expert(model=str(missing))), ModelCatalog(tmp_path))
    assert info.value.expert == "alpha" and "model file missing" in str(info.value)


def test_catalog_model_not_yet_pulled_says_to_pull(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_doc(_expert()), ModelCatalog(tmp_path / "empty-home"))
    assert "livemind models pull" in info.value.hint


def test_unknown_synthesizer_is_rejected(tmp_path: Path) -> None:
    doc = _doc(_expert(), debate={"synthesizer": "nobody"})
    with pytest.raises(ConfigError, match="synthesizer 'nobody'"):
        parse_config(doc, ModelCatalog(tmp_path), check_files=False)


def test_config_file_with_bad_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[experts]\nname=", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, ModelCatalog(tmp_path))


@pytest.mark.parametrize(("text", "expected"), [("600MiB", 600 * 2**20), ("2GB", 2 * 10**9), ("1.5GiB", int(1.5 * 2**30)),
                                                 ("4096", 4096)])
def test_sizes_parse_in_binary_and_decimal_units(text: str, expected: int) -> None:
    assert parse_size(text) == expected


def test_unreadable_size_says_how_to_write_it() -> None:
    with pytest.raises(ConfigError, match="600MiB"):
        parse_size("lots")


def test_cross_field_rules_hold_for_a_config_built_in_code() -> None:
    from livemind.config import DebateSettings, LiveMindConfig, PoolSettings, RouterSettings
    from livemind.types import EngineSettings, ExpertSpec

    alpha = ExpertSpec(name="alpha", model="smollm2-135m", persona="p", description="d")
    with pytest.raises(ConfigError, match="synthesizer 'nobody' is not an expert") as caught:
        LiveMindConfig(experts=(alpha,), router=RouterSettings(fallback="alpha"),
                       debate=DebateSettings(synthesizer="nobody"))
    assert "alpha" in caught.value.hint
    with pytest.raises(ConfigError, match="duplicate expert name"):
        LiveMindConfig(experts=(alpha, alpha), router=RouterSettings(fallback="alpha"),
                       debate=DebateSettings(synthesizer="alpha"))
    with pytest.raises(ConfigError, match="needs flash attention"):
        ExpertSpec(name="beta", model="m", persona="p", description="d",
                   engine=EngineSettings(kv_type="q8_0", flash_attn=False))
    with pytest.raises(ConfigError, match="soft_target_percent is above hard_limit_percent"):
        PoolSettings(hard_limit_percent=70, soft_target_percent=80)


def test_an_fp8_kv_cache_from_the_seed_is_refused_pointing_at_q8_0(tmp_path: Path) -> None:
    from livemind.config import parse_config
    from livemind.engine.catalog import ModelCatalog

    doc = {"experts": [{"name": "a", "model": "smollm2-135m", "persona": "p", "description": "d",
                        "engine": {"kv_type": "fp8"}}], "router": {"fallback": "a"}, "debate": {"synthesizer": "a"}}
    with pytest.raises(ConfigError) as refused:
        parse_config(doc, ModelCatalog(tmp_path), check_files=False)
    assert 'kv_type = "q8_0"' in refused.value.hint and "FP8" in refused.value.hint


def test_a_measured_council_is_read_from_toml_tables(tmp_path: Path) -> None:
    doc = tomllib.loads('''
[[router.councils]]
kind = "code"
examples = ["Write a Python function that sums a list."]
experts = ["a", "b"]
evidence = "docs/eval/humaneval-default"
''')
    config = parse_config(_doc(_expert(name="a"), _expert(name="b"), router={"fallback": "a", **doc["router"]}),
                          ModelCatalog(tmp_path), check_files=False)
    (council,) = config.router.councils
    assert (council.kind, council.experts, council.evidence) == ("code", ("a", "b"), "docs/eval/humaneval-default")
    alone = _doc(_expert(name="a"), _expert(name="b"), router={"fallback": "a", "councils": [{"kind": "code", "examples": ["x"],
                                                                               "experts": ["a"]}]})
    with pytest.raises(ConfigError, match="experts"):
        parse_config(alone, ModelCatalog(tmp_path), check_files=False)
