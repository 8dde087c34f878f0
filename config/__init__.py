"""Typed settings and the default TOML files of personas."""

from config.loader import DEFAULT_CONFIG_PATH, ConfigError, LoadedConfig, load_config
from config.settings import SOURCE_NAMES, TIER_NAMES, Settings, SourceSettings

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "SOURCE_NAMES",
    "TIER_NAMES",
    "ConfigError",
    "LoadedConfig",
    "Settings",
    "SourceSettings",
    "load_config",
]
