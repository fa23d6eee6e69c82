"""Typed parameter schemas loaded from YAML.

Every configuration object of the library is a dataclass whose fields carry a type hint, a default
and a comment. :func:`from_dict` builds one from plain data (a YAML mapping, a notebook's
parameters) and rejects, with a message that names the source, the key, what was expected and
what arrived:

- an unknown key (with the closest known key as a hint),
- a value of the wrong type (``int`` is accepted for ``float``; ``bool`` is never an ``int``),
- a missing required value (a field without a default).

Nested dataclasses, ``Optional``, ``Literal``, ``list[...]``, ``tuple[...]`` and ``dict[str, ...]``
are checked recursively. Run profiles
(:class:`stprompt.config.Profile`) are built on it; this module imports nothing of the library but
:mod:`stprompt.io`, so the dataset readers use it without reaching the profile loader (which checks a
profile's ``reader:`` block against the readers' options: :mod:`stprompt.config` imports
:mod:`stprompt.datasets`, never the other way round).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml

from .io import stable_hash


class ConfigError(ValueError):
    """A parameter file or mapping does not match its schema."""


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def check_type(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``tp``; return it (lists become tuples for tuple hints,
    ints become floats for float hints). ``where`` names the key in error messages."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for option in args:
            try:
                return check_type(value, option, where)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, "
                          f"got {_describe(value)}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{where}: expected one of {list(args)}, got {_describe(value)}")
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {_describe(value)}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {_describe(value)}")
        return from_dict(tp, value, source=where)
    if origin in (list, typing.List) or tp is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        inner = args[0] if args else Any
        return [check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (tuple, typing.Tuple) or tp is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list (tuple), got {_describe(value)}")
        if args and args[-1] is Ellipsis:
            return tuple(check_type(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if args and len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}: {value!r}")
        inner = args or (Any,) * len(value)
        return tuple(check_type(v, t, f"{where}[{i}]") for i, (v, t) in enumerate(zip(value, inner)))
    if origin in (dict, typing.Dict) or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {_describe(value)}")
        kt, vt = args if args else (Any, Any)
        return {check_type(k, kt, f"{where} key"): check_type(v, vt, f"{where}.{k}")
                for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected float, got {_describe(value)}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected int, got {_describe(value)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected bool (true/false), got {_describe(value)}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected str, got {_describe(value)}")
        return value
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise ConfigError(f"{where}: expected {tp.__name__}, got {_describe(value)}")
    return value


def unknown_key_message(where: str, key: str, known: typing.Iterable[str]) -> str:
    """The message for an unknown key, with the closest known key as a hint."""
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{where}: unknown key '{key}'{hint} (known keys: {', '.join(known)})"


def from_dict(cls: type, data: dict | None, source: str = "<mapping>") -> Any:
    """Build the dataclass ``cls`` from ``data``, checking keys and types (see module docstring)."""
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping for {cls.__name__}, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(unknown_key_message(source, str(key), fields))
    kwargs = {}
    for name, field in fields.items():
        where = f"{source}: key '{name}'"
        if name in data:
            kwargs[name] = check_type(data[name], hints[name], where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where} is required ({_type_name(hints[name])}) but missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from exc


def to_dict(obj: Any) -> dict:
    """A dataclass as plain data (tuples become lists), suitable for YAML/JSON and hashing."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(obj)


def config_hash(obj: Any) -> str:
    """A short, stable hash of a config dataclass (or plain data)."""
    return stable_hash(to_dict(obj) if dataclasses.is_dataclass(obj) else obj)


def read_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML file with errors that name the file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: parameter file not found")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from exc


def load_yaml(cls: type, path: str | os.PathLike) -> Any:
    """Load the dataclass ``cls`` from a YAML file, with the file named in every error."""
    return from_dict(cls, read_yaml(path), source=str(path))
