"""Load a TOML config file plus environment overrides into resolved, validated settings.

Produces a :class:`LoadedConfig`: the settings with every relative path made
absolute against the config file's directory, the file it came from and a
hash that identifies the configuration in `refresh_runs.config_hash`.
Any problem raises :class:`ConfigError` with a one-line message that names
the file and the setting at fault.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from config.settings import Settings, SourceSettings

DEFAULT_CONFIG_PATH = Path("config/personas.toml")
ENV_PREFIX = "PERSONAS_"


class ConfigError(Exception):
    """Configuration is missing or wrong: the CLI exits 2 with this message."""


class _EnvOverTomlSettings(Settings, BaseSettings):
    """Settings whose values come from the environment first, then from the TOML data."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        populate_by_name=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)


@dataclass(frozen=True)
class LoadedConfig:
    """Settings ready to run, with where they came from."""

    settings: Settings
    path: Path
    config_hash: str


def load_config(path: Path | str | None = None) -> LoadedConfig:
    """Read, validate and resolve a config file.

    Args:
        path: the TOML file; `config/personas.toml` when None.

    Raises:
        ConfigError: the file is missing, not valid TOML, or a setting is wrong.
    """
    config_path = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    if not config_path.is_file():
        hint = "" if path is not None else " (pass --config FILE)"
        raise ConfigError(f"config file not found: {config_path}{hint}")
    try:
        data = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{config_path}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: invalid TOML: {exc}") from None
    _refuse_unknown_sections()
    try:
        raw = _EnvOverTomlSettings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{config_path}: {describe_validation_error(exc)}") from None
    base_dir = config_path.resolve().parent
    settings = _resolve_paths(Settings.model_validate(raw.model_dump(by_alias=True)), base_dir)
    return LoadedConfig(
        settings=settings, path=config_path.resolve(), config_hash=settings_hash(settings)
    )


def _refuse_unknown_sections() -> None:
    """`PERSONAS_<SECTION>__<KEY>` naming no section is a typo, refused like a wrong key.

    Variables without the `__` separator (PERSONAS_TEST_POSTGRES_URL …) are not settings.
    """
    sections = set(Settings.model_fields)
    for name in sorted(os.environ):
        if not name.upper().startswith(ENV_PREFIX) or "__" not in name:
            continue
        section = name[len(ENV_PREFIX) :].split("__", 1)[0].lower()
        if section not in sections:
            raise ConfigError(
                f"environment variable {name}: unknown section {section!r} (sections: "
                f"{', '.join(sorted(sections))})"
            )


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first wrong setting, e.g. `tiers.rule: Input should be ...`."""
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "settings"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = "missing (required setting)"
    elif first["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling)"
    extra = f" ({exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"setting {location}: {message}{extra}"


def settings_hash(settings: Settings) -> str:
    """A stable hash of the effective configuration; secrets enter only as a hash of themselves."""
    payload = settings.model_dump(mode="json", by_alias=True)
    # Where the work runs (this machine or Spark, how many buckets) is not what it means:
    # the same data and rules on either engine are the same refresh, with the same tables.
    del payload["engine"]
    payload["warehouse"]["url"] = _secret_digest(settings.warehouse.url)
    for name, source in settings.sources.items():
        if source.url is not None:
            payload["sources"][name]["url"] = _secret_digest(source.url)
    canonical = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _secret_digest(secret: SecretStr) -> str:
    return hashlib.sha256(secret.get_secret_value().encode()).hexdigest()[:16]


def _resolve_paths(settings: Settings, base_dir: Path) -> Settings:
    sources = {name: _resolve_source(source, base_dir) for name, source in settings.sources.items()}
    warehouse = settings.warehouse.model_copy(
        update={"url": _resolve_duckdb_url(settings.warehouse.url, base_dir)}
    )
    quality = settings.quality.model_copy(
        update={"reports_dir": (base_dir / settings.quality.reports_dir).resolve()}
    )
    privacy = settings.privacy.model_copy(
        update={"key_file": (base_dir / settings.privacy.key_file).resolve()}
    )
    spill_dir = settings.engine.spill_dir
    engine = settings.engine.model_copy(
        update={"spill_dir": None if spill_dir is None else (base_dir / spill_dir).resolve()}
    )
    return settings.model_copy(
        update={
            "sources": sources,
            "warehouse": warehouse,
            "quality": quality,
            "privacy": privacy,
            "engine": engine,
        }
    )


def pii_hash_key(settings: Settings) -> bytes:
    """The PII hash key: `privacy.hash_key`, else the key file (created on first use)."""
    if settings.privacy.hash_key is not None:
        return settings.privacy.hash_key.get_secret_value().encode()
    path = settings.privacy.key_file
    if not path.exists():
        try:  # O_EXCL: two first refreshes at once must not write two different keys
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w") as file:
                file.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _resolve_source(source: SourceSettings, base_dir: Path) -> SourceSettings:
    if source.path is None or source.path.is_absolute():
        return source
    return source.model_copy(update={"path": (base_dir / source.path).resolve()})


def _resolve_duckdb_url(url: SecretStr, base_dir: Path) -> SecretStr:
    try:
        parsed = make_url(url.get_secret_value())
    except ArgumentError:
        raise ConfigError("setting warehouse.url: not a valid SQLAlchemy URL") from None
    if parsed.get_backend_name() != "duckdb" or not parsed.database:
        return url
    if parsed.database == ":memory:" or Path(parsed.database).is_absolute():
        return url
    absolute = (base_dir / parsed.database).resolve()
    return SecretStr(parsed.set(database=str(absolute)).render_as_string(hide_password=False))
