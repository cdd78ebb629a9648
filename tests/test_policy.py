"""The gateway's policy: config loading, credentials, grants, purposes and masking rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from govconnect import Level
from govconnect._exceptions import AccessDeniedError, AuthenticationError, ConfigurationError
from govconnect.gateway.masking import mask_value
from govconnect.gateway.policy import (
    HASH_NAME,
    Consumer,
    Policy,
    field_view,
    generate_token,
    hash_token,
    load_gateway_config,
)

from .gateway_support import CREDIT_CODE, PURPOSE, config_data, gateway_config, registry


@pytest.fixture(scope="module")
def services() -> list:
    return [s for s in registry().services() if s.kind == "query"]


@pytest.fixture(scope="module")
def policy(services: list) -> Policy:
    return Policy(gateway_config(), services)


def svc(services: list, name: str):
    return next(s for s in services if s.name == name)


# --- tokens -----------------------------------------------------------------------------------


def test_hash_token_is_prefixed_and_stable() -> None:
    h = hash_token("secret")
    assert h.startswith(f"{HASH_NAME}:") and len(h.split(":")[1]) == 64
    assert h == hash_token("secret")
    assert hash_token("secret", "sha256").startswith("sha256:")
    with pytest.raises(ConfigurationError, match="unknown token hash algorithm"):
        hash_token("secret", "md5")


def test_generated_tokens_are_random_and_long() -> None:
    a, b = generate_token(), generate_token()
    assert a != b and len(a) > 40


def test_sha256_token_hashes_authenticate(services: list) -> None:
    data = config_data()
    data["consumers"][0]["token_hashes"] = [hash_token("legacy", "sha256")]
    policy = Policy(load_gateway_config(data), services)
    assert policy.authenticate("Bearer legacy").department == "C0M"


# --- config -----------------------------------------------------------------------------------


def test_plain_token_in_config_is_refused() -> None:
    data = config_data()
    data["consumers"][0]["token_hashes"] = ["my-plain-token"]
    with pytest.raises(ConfigurationError, match="never tokens") as exc:
        load_gateway_config(data)
    assert "my-plain-token" not in str(exc.value)


def test_unknown_level_names_the_field() -> None:
    data = config_data()
    data["consumers"][2]["max_level"] = "secret"
    with pytest.raises(ConfigurationError, match=r"consumers\.2\.max_level"):
        load_gateway_config(data)


def test_page_sizes_must_agree() -> None:
    with pytest.raises(ConfigurationError, match="default_page_size cannot exceed"):
        load_gateway_config({"gateway": {"default_page_size": 500, "max_page_size": 100}})


def test_duplicate_consumer_is_refused() -> None:
    data = config_data()
    data["consumers"].append(dict(data["consumers"][0], token_hashes=[hash_token("other")]))
    with pytest.raises(ConfigurationError, match="configured twice"):
        load_gateway_config(data)


def test_shared_credential_is_refused(services: list) -> None:
    data = config_data()
    data["consumers"][1]["token_hashes"] = data["consumers"][0]["token_hashes"]
    with pytest.raises(ConfigurationError, match="also held by"):
        Policy(load_gateway_config(data), services)


def test_grant_of_unknown_service_is_refused(services: list) -> None:
    data = config_data()
    data["consumers"][0]["services"] = ["assistance.typo"]
    with pytest.raises(ConfigurationError, match=r"'assistance\.typo', which no loaded service"):
        Policy(load_gateway_config(data), services)


def test_toml_and_yaml_files_load(tmp_path: Path) -> None:
    toml = tmp_path / "gw.toml"
    toml.write_text(
        '[gateway]\nmax_page_size = 20\ndefault_page_size = 20\n[[consumers]]\ndepartment = "D1"\nname = "甲"\n'
        'services = ["*"]\nmax_level = "internal"\n',
        encoding="utf-8",
    )
    yml = tmp_path / "gw.yaml"
    yml.write_text(
        "gateway: {max_page_size: 20, default_page_size: 10}\nconsumers:\n  - {department: D1, name: 甲, "
        "services: ['*'], max_level: internal}\n",
        encoding="utf-8",
    )
    for path in (toml, yml):
        cfg = load_gateway_config(path)
        assert cfg.gateway.max_page_size == 20
        assert cfg.consumers[0].max_level is Level.INTERNAL


def test_unreadable_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_gateway_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[gateway\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="does not parse"):
        load_gateway_config(bad)
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("consumers: [\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="does not parse"):
        load_gateway_config(bad_yaml)


def test_example_config_is_valid() -> None:
    cfg = load_gateway_config(Path(__file__).parent.parent / "examples" / "gateway.toml")
    assert [c.id for c in cfg.consumers] == ["11010500001/DBXT", "11010500002", "11010500003"]


# --- authentication ---------------------------------------------------------------------------


def test_bearer_token_names_the_consumer(policy: Policy) -> None:
    assert policy.authenticate("Bearer tok-sensitive-p").id == "C2P"
    assert policy.authenticate("bearer   tok-core-m").id == "C4M"


@pytest.mark.parametrize(
    ("header", "rule"),
    [
        (None, "credentials.missing"),
        ("", "credentials.missing"),
        ("Basic dXNlcjpwYXNz", "credentials.scheme"),
        ("Bearer", "credentials.scheme"),
        ("Bearer nobody-holds-this", "credentials.unknown"),
    ],
)
def test_bad_credentials(policy: Policy, header: str | None, rule: str) -> None:
    with pytest.raises(AuthenticationError) as exc:
        policy.authenticate(header)
    assert exc.value.rule == rule
    assert exc.value.status == 401


def test_certificate_subject_from_trusted_header(policy: Policy, services: list) -> None:
    assert policy.authenticate(None, "CN=narrow.example.gov.cn").id == "NARROW"
    with pytest.raises(AuthenticationError, match="certificate subject"):
        policy.authenticate(None, "CN=stranger")
    # a wrong token is refused even with a known subject
    with pytest.raises(AuthenticationError):
        policy.authenticate("Bearer wrong", "CN=narrow.example.gov.cn")
    untrusted = Policy(gateway_config(client_cert_header=None), services)
    with pytest.raises(AuthenticationError, match="no credentials"):
        untrusted.authenticate(None, "CN=narrow.example.gov.cn")


# --- authorisation ----------------------------------------------------------------------------


def test_authorize_rules(policy: Policy, services: list) -> None:
    wide = policy.authenticate("Bearer tok-core-p")
    narrow = policy.authenticate("Bearer tok-narrow")
    policy.authorize(wide, svc(services, "open_case"), None)
    policy.authorize(wide, svc(services, "conditional_case"), PURPOSE)
    cases = [
        (wide, "secret_case", PURPOSE, "sharing.not_shared"),
        (wide, "conditional_case", None, "purpose.required"),
        (wide, "conditional_case", "好奇", "purpose.not_allowed"),
        (narrow, "many_cases", None, "service.not_granted"),
        (narrow, "conditional_case", "别的用途", "service.not_granted"),
    ]
    for consumer, name, purpose, rule in cases:
        with pytest.raises(AccessDeniedError) as exc:
            policy.authorize(consumer, svc(services, name), purpose)
        assert exc.value.rule == rule, name
        assert exc.value.status == 403
        assert exc.value.problems[0].rule == rule


def test_purposes_per_service(services: list) -> None:
    consumer = Consumer(
        department="D",
        name="按服务列用途",
        services=("*",),
        purposes={"assistance.conditional_case": ("救助审核",)},
    )
    policy = Policy(load_gateway_config({"consumers": [consumer.model_dump()]}), services)
    assert policy.allowed_purposes(consumer, svc(services, "conditional_case")) == ("救助审核",)
    assert policy.allowed_purposes(consumer, svc(services, "open_case")) == ()


# --- masking ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "masked"),
    [
        ("citizen_id", "11010519491231002X", "110105********002X"),
        ("employer", CREDIT_CODE, "9135**********0Y43"),
        ("name", "张三", "张**"),  # a fixed mask: no length told
        ("name", "欧阳明", "欧**"),
        ("phone", "13812345678", "138****5678"),
        ("phone", None, None),
        ("born", "1949-12-31", "1949-**-**"),
        ("income", 3200, "****"),
    ],
)
def test_mask_value(services: list, field: str, value: object, masked: object) -> None:
    assert mask_value(svc(services, "open_case"), field, value) == masked


def test_address_masking_keeps_the_district() -> None:
    from govconnect_household import HouseholdConnector

    resident = HouseholdConnector.services()["resident"]
    assert mask_value(resident, "address", "北京市朝阳区建国路1号2楼") == "北京市朝阳区" + "*" * 8
    assert mask_value(resident, "gender", "1") == "****"


def test_field_view_withholds_above_level(services: list) -> None:
    consumer = Consumer(department="D", name="内部", max_level=Level.INTERNAL)
    view = field_view(consumer, svc(services, "open_case"))
    assert view.returned == ("case_no", "office", "employer")
    assert view.masked == ("employer",)
    assert "verdict" in view.withheld and "citizen_id" in view.withheld
