"""Settings: config.toml defaults, VIGIL_<SECTION>_<KEY> overrides, errors that name the key."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from app.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings


def test_config_toml_holds_every_default() -> None:
    # Every key of the typed settings is spelled out in config.toml, with the same value.
    assert load_settings(environ={}) == Settings()
    text = DEFAULT_CONFIG.read_text()
    for section in Settings.__struct_fields__:
        assert f"[{section}]" in text
        table = getattr(Settings(), section)
        for key in table.__struct_fields__:
            if isinstance(getattr(table, key), msgspec.Struct):  # a table of its own
                assert f"\n[{section}.{key}]" in text, f"[{section}.{key}] is missing"
                continue
            assert f"\n{key} = " in text, f"{section}.{key} is missing from config.toml"


def test_environment_overrides_any_key() -> None:
    settings = load_settings(
        environ={
            "VIGIL_SERVER_PORT": "9001",
            "VIGIL_STORAGE_DIR": "/srv/vigil",
            "VIGIL_SERVER_WS_PER_MESSAGE_DEFLATE": "true",
            "VIGIL_SCORING_PENALTY_HIGH": "20",
            "VIGIL_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "VIGIL_SERVER_NODE_ID": "node-7",
            "VIGIL_AUTH_ADMIN_TOKEN": "s3cret",
            "VIGIL_VISION_OBJECT_INPUT": "[320, 256]",
            "VIGIL_SERVER_FORWARDED_ALLOW_IPS": '["10.0.0.1"]',
            "HOME": "/root",
        }
    )
    assert settings.vision.object_input == (320, 256)
    assert settings.server.forwarded_allow_ips == ["10.0.0.1"]
    assert settings.server.port == 9001 and settings.server.ws_per_message_deflate is True
    assert settings.storage_dir == Path("/srv/vigil") and settings.scoring.penalty_high == 20
    assert (
        settings.kafka.bootstrap_servers == "127.0.0.1:9092" and settings.server.node_id == "node-7"
    )
    assert settings.auth.admin_token == "s3cret"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"VIGIL_SERVER_PORT": "eighty"}, "$.server.port"),
        ({"VIGIL_SERVER_PORT": "70000"}, "$.server.port"),
        ({"VIGIL_STORAGE_SYNCHRONOUS": "SOMETIMES"}, "$.storage.synchronous"),
        ({"VIGIL_SCORING_RISK_HIGH_MIN": "0.1"}, "risk thresholds must rise"),
        ({"VIGIL_SERVER_PROT": "1"}, "VIGIL_SERVER_PROT"),
        ({"VIGIL_NOPE_X": "1"}, "VIGIL_NOPE_X"),
        ({"VIGIL_VISION_OBJECT_INPUT": "[320, 256"}, "VIGIL_VISION_OBJECT_INPUT"),
        ({"VIGIL_VISION_OBJECT_INPUT": "[320, 250]"}, "height 250 is not a multiple of 32"),
    ],
)
def test_bad_values_name_the_key(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("$", r"\$").replace(".", r"\.")):
        load_settings(environ=environ)


def test_unknown_key_in_the_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"prot"):
        load_settings(config, environ={})


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})
