"""`coverage-net config`: the daemons' configuration files, sampled and checked.

Both commands go through `coverage_net.config` only, so `check` accepts exactly
what a daemon will accept (the same file, the same environment overrides) and a
`sample` is what that loader documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from coverage_net.config import KINDS, ConfigError, HostPort, resolve_config, sample_config


@click.group()
def config() -> None:
    """Daemon configuration: print a commented sample, or check a file.

    The hotspot, validator and router each read one TOML file. Any setting can be
    overridden from the environment as COVERAGE_NET_<SECTION>_<KEY> (for example
    COVERAGE_NET_RADIO_PORT=/dev/pts/3; lists comma-separated), which wins over the
    file. Relative paths in the file are relative to the file's directory.
    """


@config.command("sample")
@click.argument("kind", type=click.Choice(KINDS), metavar="KIND")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the sample to this file (never over an existing one) "
                   "instead of standard output.")
def sample(kind: str, out: Path | None) -> None:
    """Print a commented sample configuration for a KIND process.

    Every setting is listed with what it does and its environment variable;
    required ones carry example values (edit them), the others are commented out
    at their defaults. The sample loads as it is.

    \b
      coverage-net config sample hotspot > hotspot.toml
    """
    text = sample_config(kind)
    if out is None:
        click.echo(text, nl=False)
        return
    with out.open("x", encoding="utf-8") as file:
        file.write(text)
    click.echo(f"wrote {out}", err=True)


@config.command("check", short_help="Check a configuration file; show each value and its origin.")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS),
              help="Which process the file is for [default: the file's name, when it is "
                   "hotspot.toml, validator.toml or router.toml].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the resolved settings as one JSON object.")
def check(path: Path, kind: str | None, as_json: bool) -> None:
    """Load PATH as a daemon would and print every resolved setting and its origin.

    The origin is "file", "default" or "env VARIABLE". The first problem (a
    missing or mistyped setting, an unknown key, bad TOML, a bad environment
    value) ends the check with one error line naming the file and the key. The
    files the settings name (key, genesis, parameters) are not opened.

    \b
      coverage-net config check hotspot.toml
      COVERAGE_NET_RADIO_PORT=/dev/pts/3 coverage-net config check hs.toml --kind hotspot
    """
    if kind is None:
        if path.stem not in KINDS:
            raise ConfigError(f"{path}: which process is it for? give --kind "
                              f"({', '.join(KINDS)})")
        kind = path.stem
    resolved = resolve_config(kind, path)
    if as_json:
        click.echo(json.dumps({
            "path": str(path), "kind": kind,
            "settings": {s.name: {"value": _plain(s.value), "source": s.source}
                         for s in resolved.settings}}, indent=1))
        return
    click.echo(f"{path}: ok ({kind})")
    width = max(len(s.name) for s in resolved.settings)
    for s in resolved.settings:
        value = "(none)" if s.value is None else s.text
        click.echo(f"  {s.name:<{width}} = {value}  # {s.source}")


def _plain(value: Any) -> Any:
    """A resolved value as JSON: paths and addresses as text, lists as lists."""
    if isinstance(value, Path | HostPort):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value
