"""Reading a process's configuration: TOML file, then environment, then defaults.

Precedence is environment over file over default, so one file can serve several
processes that differ by a variable (a port, a data directory), and a container
can set anything without writing files. Relative paths in the file (and the
defaults) are resolved against the file's directory, so a configuration directory
can be moved as a whole; relative paths in the environment are resolved against
the current directory, where the shell that set them is. Every problem raises
`ConfigError` with one line that names the file and the key.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn

from ._errors import ConfigError
from ._settings import KINDS, AnyConfig, config_class, sections
from ._types import REQUIRED, Invalid, Spec, did_you_mean, shown

__all__ = ["ResolvedConfig", "ResolvedSetting", "env_var", "load_config", "resolve_config"]

ENV_PREFIX = "COVERAGE_NET_"


def env_var(section: str, key: str) -> str:
    """The environment variable that overrides ``section.key``."""
    return f"{ENV_PREFIX}{section}_{key}".upper()


@dataclass(frozen=True)
class ResolvedSetting:
    """One setting's final value and where it came from: "file", "default" or "env VAR".

    `text` is the value as TOML would spell it ("" when the value is None).
    """

    name: str
    value: Any
    source: str
    text: str
    help: str


@dataclass(frozen=True)
class ResolvedConfig:
    """A loaded configuration with every setting's origin, for `coverage-net config check`."""

    path: Path
    config: AnyConfig
    settings: tuple[ResolvedSetting, ...]


def load_config(kind: str, path: str | os.PathLike[str], *,
                env: Mapping[str, str] = os.environ) -> AnyConfig:
    """The checked, typed configuration of a `kind` process from the file at `path`.

    `kind` is "hotspot", "validator" or "router"; `env` supplies the
    ``COVERAGE_NET_<SECTION>_<KEY>`` overrides. Raises `ConfigError`.
    """
    return resolve_config(kind, path, env=env).config


def resolve_config(kind: str, path: str | os.PathLike[str], *,
                   env: Mapping[str, str] = os.environ) -> ResolvedConfig:
    """`load_config`, keeping where each value came from."""
    cls = config_class(kind)
    path = Path(path)
    data = _read_toml(path)
    layout = sections(cls)
    _reject_unknown(data, layout, kind, str(path))
    built: dict[str, Any] = {}
    resolved: list[ResolvedSetting] = []
    for name, section_cls in layout:
        reader = _SectionReader(kind, name, str(path), path.parent, env)
        values = reader.read(section_cls, data.get(name, {}))
        built[name] = section_cls(**values)
        resolved += reader.resolved
    return ResolvedConfig(path, cls(**built), tuple(resolved))


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: "
                          f"{exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); "
                          "a configuration file is TOML") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _reject_unknown(data: Mapping[str, Any], layout: list[tuple[str, type]], kind: str,
                    where: str) -> None:
    known = {name: [f.name for f in fields(cls)] for name, cls in layout}
    names = [f"{section}.{key}" for section, keys in known.items() for key in keys]
    for top, value in data.items():
        if top not in known:
            top = _bare(top)
            if isinstance(value, dict):
                raise ConfigError(f"{where}: [{top}] is not a {kind} section"
                                  f"{_other_kind(top, kind)}{did_you_mean(top, list(known))}; "
                                  f"a {kind} has {', '.join(known)}")
            raise ConfigError(f"{where}: {top} is not a {kind} setting: settings belong in "
                              f"sections such as [{layout[0][0]}]{_suggest(top, names)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: {top} must be a section ([{top}]); got {shown(value)}")
        for key in value:
            if key not in known[top]:
                key = _bare(key)
                hint = (f" (did you mean the section [{key}]?)" if key in known
                        else _suggest(f"{top}.{key}", names))
                raise ConfigError(f"{where}: {top}.{key} is not a {kind} setting{hint}")


def _bare(key: str) -> str:
    """A key as TOML would write it: bare if it can be, else quoted (so it stays one line)."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) \
        else json.dumps(key)


def _other_kind(section: str, kind: str) -> str:
    owners = [k for k in KINDS if k != kind and section in dict(sections(config_class(k)))]
    return f" (it is a {' and '.join(owners)} section)" if owners else ""


def _suggest(name: str, names: list[str]) -> str:
    """Did-you-mean for a dotted name: the same key in another section first."""
    key = name.rpartition(".")[2]
    same_key = [n for n in names if n.rpartition(".")[2] == key]
    if same_key:
        return f" (did you mean {same_key[0]}?)"
    return did_you_mean(name, names).replace('"', "")


class _SectionReader:
    """Resolves one section's values, remembering each one's origin."""

    def __init__(self, kind: str, section: str, where: str, base_dir: Path,
                 env: Mapping[str, str]) -> None:
        self.kind, self.section, self.where = kind, section, where
        self.base_dir, self.env = base_dir, env
        self.resolved: list[ResolvedSetting] = []

    def read(self, section_cls: type, table: Mapping[str, Any]) -> dict[str, Any]:
        specs = {f.name: f.metadata["spec"] for f in fields(section_cls)}
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for key, spec in specs.items():
            var = env_var(self.section, key)
            if var in self.env:
                values[key] = self._given(key, spec, self.env[var], var)
                sources[key] = f"env {var}"
            elif key in table:
                values[key] = self._given(key, spec, table[key], None)
                sources[key] = "file"
        absent = [key for key in specs if key not in values]
        for key in absent:  # plain defaults first: computed ones may look at them
            default = specs[key].default
            if default is REQUIRED:
                self._fail(key, f"is required ({specs[key].help})")
            if not callable(default):
                values[key] = self._default_value(specs[key])
        for key in absent:
            if callable(specs[key].default):
                values[key] = specs[key].default(values)
        for key, spec in specs.items():
            reason = spec.required_when(values) if spec.required_when else None
            if values[key] is None and reason:
                self._fail(key, f"is required {reason} ({spec.help})")
        self.resolved += [
            ResolvedSetting(f"{self.section}.{key}", values[key], sources.get(key, "default"),
                            "" if values[key] is None else spec.type.to_toml(values[key]),
                            spec.help)
            for key, spec in specs.items()]
        return values

    def _given(self, key: str, spec: Spec, raw: Any, var: str | None) -> Any:
        try:
            value = spec.type.from_env(raw) if var else spec.type.from_toml(raw)
            if spec.type.is_path:
                value = self._absolute(value, Path.cwd() if var else self.base_dir)
            return spec.check(value) if spec.check else value
        except Invalid as exc:
            self._fail(key, str(exc), var)

    def _default_value(self, spec: Spec) -> Any:
        if spec.type.is_path and spec.default is not None:
            return self._absolute(Path(str(spec.default).format(kind=self.kind)), self.base_dir)
        return spec.default

    @staticmethod
    def _absolute(path: Path, base: Path) -> Path:
        return Path(os.path.abspath(base / path))

    def _fail(self, key: str, phrase: str, var: str | None = None) -> NoReturn:
        via = f" (from {var})" if var else ""
        raise ConfigError(f"{self.where}: {self.section}.{key}{via} {phrase}")
