"""Settings: TOML plus environment overrides, path resolution, and errors that name the setting."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from config.loader import ConfigError, load_config
from tests.conftest import write

MINIMAL = '[sources.orders]\npath = "data/orders.csv"\n'


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    config = write(tmp_path / "conf" / "p.toml", MINIMAL)
    settings = load_config(config).settings
    assert settings.sources["orders"].path == tmp_path / "conf" / "data" / "orders.csv"
    url = settings.warehouse.url.get_secret_value()
    assert url == f"duckdb:///{tmp_path / 'conf' / 'warehouse' / 'warehouse.duckdb'}"


def test_defaults_follow_the_contract(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path / "p.toml", MINIMAL)).settings
    assert settings.warehouse.schema_name == "personas"
    assert settings.tiers.rule == "order_value"
    assert (settings.tiers.large_share, settings.tiers.medium_share) == (
        Decimal("0.20"),
        Decimal("0.30"),
    )
    assert settings.schedule.cadence_months == 6


def test_environment_overrides_nested_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PERSONAS_TIERS__RULE", "revenue")
    monkeypatch.setenv("PERSONAS_TIERS__LARGE_MIN_REVENUE", "1000")
    monkeypatch.setenv("PERSONAS_TIERS__MEDIUM_MIN_REVENUE", "10")
    monkeypatch.setenv("PERSONAS_SOURCES__ORDERS__DELIMITER", ";")
    settings = load_config(write(tmp_path / "p.toml", MINIMAL)).settings
    assert settings.tiers.rule == "revenue"
    assert settings.tiers.large_min_revenue == Decimal("1000")
    assert settings.sources["orders"].delimiter == ";"
    assert settings.sources["orders"].path == tmp_path / "data" / "orders.csv"  # kept from TOML


def test_the_config_hash_changes_with_the_configuration_only(tmp_path: Path) -> None:
    first = load_config(write(tmp_path / "a.toml", MINIMAL)).config_hash
    again = load_config(write(tmp_path / "b.toml", MINIMAL)).config_hash
    other = load_config(write(tmp_path / "c.toml", MINIMAL + '[tiers]\nrule = "quantity"\n'))
    assert first == again
    assert other.config_hash != first


def test_a_password_in_a_url_is_not_in_the_hashed_payload(tmp_path: Path) -> None:
    text = '[warehouse]\nurl = "postgresql+psycopg://u:s3cr3t-canary@db/x"\n' + MINIMAL
    loaded = load_config(write(tmp_path / "p.toml", text))
    assert "s3cr3t-canary" not in repr(loaded.settings)
    assert "s3cr3t-canary" not in loaded.config_hash


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "setting sources: missing (required setting)"),
        (MINIMAL + "[tiers]\nrule = 'biggest'\n", "setting tiers.rule: Input should be"),
        (MINIMAL + "[tiers]\nrul = 'quantile'\n", "setting tiers.rul: unknown setting"),
        (MINIMAL + "[tiers]\nrule = 'revenue'\n", "setting tiers: rule 'revenue' needs"),
        (
            MINIMAL + "[tiers]\nrule = 'quantile'\nlarge_share = 0.8\n",
            "large_share + medium_share must stay below 1",
        ),
        (MINIMAL + "[schedule]\ncadence_months = 13\n", "setting schedule.cadence_months:"),
        (MINIMAL + "[warehouse]\nschema = 'x; drop table y'\n", "setting warehouse.schema:"),
        ('[sources.orders]\nurl = "sqlite://"\n', "needs exactly one of `table` or `query`"),
        ('[sources.orders]\npath = "a.csv"\nurl = "sqlite://"\n', "exactly one of `path`"),
        (MINIMAL + '[sources.sales]\npath = "s.csv"\n', "unknown source 'sales'"),
        (
            '[sources.orders]\npath = "o.csv"\n[tiers]\nrule = "package"\n',
            "needs a [sources.products]",
        ),
        ("[sources.orders\n", "invalid TOML"),
    ],
)
def test_wrong_settings_fail_naming_the_setting(tmp_path: Path, text: str, message: str) -> None:
    config = write(tmp_path / "p.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert str(caught.value).startswith(f"{config}: ")
    assert message in str(caught.value)


def test_a_missing_default_config_suggests_the_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config/personas\.toml \(pass --config FILE\)"):
        load_config(None)


def test_the_shipped_configs_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    for name in ("personas.toml", "demo.toml"):
        settings = load_config(root / "config" / name).settings
        assert set(settings.sources) == {
            "orders",
            "customers",
            "contacts",
            "products",
            "leads",
            "feedback",
        }


def test_the_default_config_writes_nothing_into_the_source_tree() -> None:
    root = Path(__file__).resolve().parents[1]
    settings = load_config(root / "config" / "personas.toml").settings
    outside = root / "personas-demo"  # the demo's folder, ignored by git
    for path in (settings.quality.reports_dir, settings.privacy.key_file):
        assert path.is_relative_to(outside), path
    url = settings.warehouse.url.get_secret_value()
    assert url.startswith(f"duckdb:///{outside}")


def test_line_settings_belong_to_orders(tmp_path: Path) -> None:
    config = write(
        tmp_path / "p.toml",
        MINIMAL + '[sources.customers]\npath = "c.csv"\nline_key = ["customer_id"]\n',
    )
    with pytest.raises(ConfigError, match=r"apply to sources\.orders only"):
        load_config(config)


@pytest.mark.parametrize("value", ["1e10", "inf", "nan", "-1"])
def test_lock_timeouts_a_warehouse_cannot_honour_are_refused_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PERSONAS_WAREHOUSE__LOCK_TIMEOUT_SECONDS", value)
    with pytest.raises(ConfigError, match=r"setting warehouse\.lock_timeout_seconds"):
        load_config(write(tmp_path / "p.toml", MINIMAL))
