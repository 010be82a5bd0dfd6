"""The daemons' configuration: one TOML file per process, environment overrides, samples.

`load_config("hotspot", "hotspot.toml")` returns a frozen `HotspotConfig` (and
likewise `ValidatorConfig`, `RouterConfig`) whose sections hold typed, checked
values: the daemons read attributes and never parse. Every setting is declared
once, in the section classes; the loader, `sample_config` and `coverage-net
config` all walk those declarations. Any problem is a `ConfigError` whose one
line names the file and the key.
"""

from ._errors import ConfigError
from ._load import ResolvedConfig, ResolvedSetting, env_var, load_config, resolve_config
from ._sample import sample_config
from ._settings import (
    KINDS,
    RADIO_DRIVERS,
    ChainSettings,
    ConsensusSettings,
    DataSettings,
    HotspotConfig,
    IdentitySettings,
    LocationSettings,
    LogSettings,
    MetricsSettings,
    NetworkSettings,
    RadioSettings,
    RouterConfig,
    SinkSettings,
    ValidatorChainSettings,
    ValidatorConfig,
    config_class,
)
from ._types import HostPort

__all__ = [
    "ConfigError", "load_config", "resolve_config", "sample_config", "env_var",
    "ResolvedConfig", "ResolvedSetting", "KINDS", "RADIO_DRIVERS", "config_class",
    "HotspotConfig", "ValidatorConfig", "RouterConfig", "HostPort",
    "IdentitySettings", "NetworkSettings", "DataSettings", "MetricsSettings",
    "ChainSettings", "ValidatorChainSettings", "LogSettings", "LocationSettings",
    "RadioSettings", "ConsensusSettings", "SinkSettings",
]
