"""The commented sample configuration of each process, written from the declarations.

Required settings are filled with plausible examples so the sample loads as it is
(a test makes sure); settings with a default are shown commented out with that
default, so an operator sees every knob and what it does without the file
pinning today's defaults forever.
"""

from __future__ import annotations

import textwrap
from dataclasses import fields
from typing import Any

from ._load import env_var
from ._settings import config_class, sections
from ._types import REQUIRED, Spec

__all__ = ["sample_config"]

_WIDTH = 88


def sample_config(kind: str) -> str:
    """A commented TOML configuration for a `kind` process that loads without error."""
    config_class(kind)  # an unknown kind is a ConfigError before anything is written
    lines = [
        f"# coverage-net {kind} configuration (TOML), for: coverage-net {kind} run "
        f"--config {kind}.toml",
        f"# Check it with: coverage-net config check {kind}.toml --kind {kind}",
        *_comment("Relative paths are relative to this file's directory. Settings with a "
                  "default are shown commented out. Any setting can be given in the "
                  "environment instead, as COVERAGE_NET_<SECTION>_<KEY> (lists "
                  "comma-separated); the environment wins over this file."),
    ]
    for section, section_cls in sections(config_class(kind)):
        lines += ["", f"[{section}]"]
        specs = {f.name: f.metadata["spec"] for f in fields(section_cls)}
        values = _sample_values(kind, specs)
        for key, spec in specs.items():
            lines += _setting_lines(section, key, spec, values)
    return "\n".join(lines) + "\n"


def _sample_values(kind: str, specs: dict[str, Spec]) -> dict[str, Any]:
    """Each setting's value in the sample (an example, a default, or None)."""
    values: dict[str, Any] = {}
    for key, spec in specs.items():
        if spec.default is REQUIRED:
            values[key] = spec.example
        elif not callable(spec.default):
            values[key] = spec.default
            if spec.type.is_path and spec.default is not None:
                values[key] = str(spec.default).format(kind=kind)
    for key, spec in specs.items():
        if callable(spec.default):
            values[key] = spec.default(values)
        elif values[key] is None and spec.required_when and spec.required_when(values):
            values[key] = spec.example
    return values


def _setting_lines(section: str, key: str, spec: Spec, values: dict[str, Any]) -> list[str]:
    required = spec.default is REQUIRED
    when = spec.required_when(values) if spec.required_when else None
    note = " Required." if required else f" Required {when}." if when else ""
    help_ = spec.help[0].upper() + spec.help[1:]
    lines = ["", *_comment(f"{help_}.{note} Env: {env_var(section, key)}.")]
    if values[key] is None and (required or when):
        raise AssertionError(f"{section}.{key} is required but has no example")
    shown = values[key] if values[key] is not None else spec.example  # off by default
    if shown is None:
        return lines  # no value to show (e.g. the serial speed of a driver without one)
    assignment = f"{key} = {spec.type.to_toml(shown)}"
    return lines + [assignment if required or when else f"#{assignment}"]


def _comment(text: str) -> list[str]:
    return ["# " + line for line in textwrap.wrap(text, _WIDTH - 2)]
