"""Configuration precedence (environment > file > default), secret settings and
``govconnect config show``; a secret never appears in any output of any command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from govconnect_household import create_sample_database
from pydantic import BaseModel, Field, SecretStr

from govconnect import load_registry
from govconnect._config import effective_settings, is_configured, is_secret, mask_url_passwords

from .cli_support import govconnect

ENV_SECRET = "Env-Secret-5531"
FILE_URL_PASSWORD = "File-Url-Pw-8842"


class VendorSettings(BaseModel):
    url: str = "sqlite:///legacy.sqlite"
    timeout: int = 30
    password: SecretStr | None = None
    api_key: str = Field(default="", json_schema_extra={"secret": True})


def test_environment_overrides_file_overrides_default() -> None:
    config = {"connectors": {"vendor": {"url": "sqlite:///file.sqlite", "timeout": 5}}}
    env = {"GOVCONNECT_VENDOR_TIMEOUT": "9", "GOVCONNECT_VENDOR_PASSWORD": ENV_SECRET}
    found = {s.name: s for s in effective_settings("vendor", VendorSettings, config, env)}
    assert (found["url"].value, found["url"].source) == ("sqlite:///file.sqlite", "file")
    assert (found["timeout"].value, found["timeout"].source) == ("9", "env")
    assert (found["api_key"].value, found["api_key"].source) == ("", "default")
    assert found["password"].secret and found["password"].shown == "********"
    assert found["api_key"].secret and not found["url"].secret


def test_secret_markers_and_url_passwords() -> None:
    fields = VendorSettings.model_fields
    assert is_secret(fields["password"]) and is_secret(fields["api_key"])
    assert not is_secret(fields["url"])
    masked = mask_url_passwords(f"url postgresql+psycopg://hj:{FILE_URL_PASSWORD}@db/hj here")
    assert masked == "url postgresql+psycopg://hj:********@db/hj here"


def test_configured_means_a_file_section_or_an_environment_variable() -> None:
    assert not is_configured("vendor", VendorSettings, {}, {})
    assert is_configured("vendor", VendorSettings, {"connectors": {"vendor": {}}}, {})
    assert is_configured("vendor", VendorSettings, {}, {"GOVCONNECT_VENDOR_URL": "x"})


def test_registry_builds_connectors_with_the_environment_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = f"sqlite:///{tmp_path / 'env.sqlite'}"
    create_sample_database(good, count=5)
    monkeypatch.setenv("GOVCONNECT_HOUSEHOLD_URL", good)
    reg = load_registry(config={"connectors": {"household": {"url": "sqlite:///absent.sqlite"}}})
    with reg.connector("household") as conn:
        assert conn.settings.url == good


def test_the_env_wins_over_the_file_through_the_command(tmp_path: Path) -> None:
    good = f"sqlite:///{tmp_path / 'env.sqlite'}"
    create_sample_database(good, count=20)
    (tmp_path / "govconnect.toml").write_text(
        '[connectors.household]\nurl = "sqlite:///absent.sqlite"\n', encoding="utf-8"
    )
    env = {"GOVCONNECT_HOUSEHOLD_URL": good}
    ran = govconnect("publish", "111112001/0002", "--json", cwd=tmp_path, env=env)
    assert ran.code == 0, ran.output
    assert json.loads(ran.out)["datasets"][0]["read"] == 20
    shown = json.loads(govconnect("config", "show", "--json", cwd=tmp_path, env=env).out)
    (household,) = [c for c in shown["connectors"] if c["connector"] == "household"]
    url = next(s for s in household["settings"] if s["setting"] == "url")
    assert (url["value"], url["source"]) == (good, "env")
    assert shown["config_file"] == "govconnect.toml"


def test_config_show_names_sources_and_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "govconnect.toml").write_text(
        "[connectors.household]\n"
        f'url = "postgresql+psycopg://hj:{FILE_URL_PASSWORD}@127.0.0.1:1/hj"\n'
        'table = "hj_file"\n',
        encoding="utf-8",
    )
    env = {"GOVCONNECT_HOUSEHOLD_PASSWORD": ENV_SECRET, "GOVCONNECT_HOUSEHOLD_TABLE": "hj_env"}
    ran = govconnect("config", "show", "household", cwd=tmp_path, env=env)
    assert ran.code == 0, ran.output
    assert "precedence: environment > file > default" in ran.out
    assert "table              = hj_env  [env GOVCONNECT_HOUSEHOLD_TABLE]" in ran.out
    assert "password           = ********  [env GOVCONNECT_HOUSEHOLD_PASSWORD, secret]" in ran.out
    assert "url                = postgresql+psycopg://hj:********@127.0.0.1:1/hj  [file]" in ran.out
    assert "chunk_size         = 2000  [default]" in ran.out
    unknown = govconnect("config", "show", "nope", cwd=tmp_path)
    assert unknown.code == 1 and "no connector named 'nope'" in unknown.err


@pytest.mark.parametrize(
    "args",
    [
        ["plugins"],
        ["plugins", "--json"],
        ["check", "household"],
        ["check", "--json"],
        ["config", "show"],
        ["config", "show", "--json"],
        ["publish", "--all"],
        ["publish", "--all", "--json"],
        ["-v", "publish", "111112001/0002"],
        ["catalog", "show", "--json"],
    ],
)
def test_a_secret_never_appears_in_any_output(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "govconnect.toml").write_text(
        "[connectors.household]\n"
        f'url = "postgresql+psycopg://hj:{FILE_URL_PASSWORD}@127.0.0.1:1/hj"\n',
        encoding="utf-8",
    )
    env = {"GOVCONNECT_HOUSEHOLD_PASSWORD": ENV_SECRET}
    ran = govconnect(*args, cwd=tmp_path, env=env, timeout=180)
    assert ran.out or ran.err
    assert ENV_SECRET not in ran.output
    assert FILE_URL_PASSWORD not in ran.output
    if args[0] != "-v":
        assert "Traceback" not in ran.output
