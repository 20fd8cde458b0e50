"""Typed parameters: a config dataclass is the one definition of a node's (or a command's) parameters.

A field may carry its valid range and a description through :func:`param`::

    @dataclass(frozen=True)
    class TwinParams:
        state_hz: float = param(100.0, gt=0, le=1000, doc="joint states / ee pose rate [Hz]")
        cameras: tuple[str, ...] = param(("front", "wrist"), doc="cameras to render")

:func:`flat_fields` lists the (dotted) names, types and defaults of a dataclass tree (nested configs become
``sac.discount``); :func:`build` turns raw values (ROS parameters, CLI flags, YAML) into the dataclass, checking
every value: a wrong type, NaN/inf, a value out of range or not among the choices raises :class:`ParameterError`
with one line naming the parameter, the value and what is valid. An integer is accepted where a float is
expected; a list or a comma-separated string where a tuple of strings is. numpy only: the rclpy side (declaring
the parameters on a node) is :func:`robot_rl.contract.ros_node.declare_config`.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import MISSING, dataclass, field


class ParameterError(ValueError):
    """A parameter value that is not valid; the message is one line (parameter, value, valid range)."""


def param(default, *, gt=None, ge=None, lt=None, le=None, choices=None, doc: str = "", finite: bool = True):
    """A dataclass field with its valid range (``gt``/``ge``/``lt``/``le``), ``choices`` and a description."""
    meta = {"gt": gt, "ge": ge, "lt": lt, "le": le, "choices": tuple(choices) if choices else None, "doc": doc,
            "finite": finite}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple (immutable) for a sequence default")
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class FlatField:
    name: str  # dotted path, e.g. "sac.discount"
    kind: str  # "bool" | "int" | "float" | "str" | "str_tuple" | "float_tuple" | "int_tuple"
    default: object
    optional: bool  # None allowed
    meta: dict

    @property
    def doc(self) -> str:
        return self.meta.get("doc", "") if self.meta else ""

    def valid_range(self) -> str:
        m = self.meta or {}
        parts = []
        if m.get("choices"):
            return "one of " + ", ".join(repr(c) for c in m["choices"])
        for key, sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if m.get(key) is not None:
                parts.append(f"{sym} {m[key]}")
        base = {"bool": "true or false", "int": "an integer", "float": "a finite number", "str": "a string",
                "str_tuple": "a list of strings", "float_tuple": "a list of finite numbers",
                "int_tuple": "a list of integers"}[self.kind]
        return base + (" " + " and ".join(parts) if parts else "") + (" (or empty)" if self.optional else "")


def _kind_of(tp) -> tuple[str | None, bool]:
    """('float', optional?) for a type hint; (None, _) for a nested dataclass."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) != 1:
            raise TypeError(f"unsupported parameter type {tp}")
        tp = args[0]
        origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return None, optional
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return {str: "str_tuple", float: "float_tuple", int: "int_tuple"}[inner], optional
    return {bool: "bool", int: "int", float: "float", str: "str"}[tp], optional


def flat_fields(cls, prefix: str = "") -> list[FlatField]:
    """Every leaf field of a (nested) config dataclass, with dotted names."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = hints[f.name]
        kind, optional = _kind_of(tp)
        name = prefix + f.name
        if kind is None:
            sub = typing.get_args(tp)[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
            out += flat_fields(sub, name + ".")
            continue
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else MISSING)
        out.append(FlatField(name, kind, default, optional, dict(f.metadata)))
    return out


def _fail(f: FlatField, value, where: str) -> ParameterError:
    return ParameterError(f"{where}parameter {f.name}={value!r} is invalid: expected {f.valid_range()}")


def _number(f: FlatField, v, where: str, integer: bool):
    raw = v  # messages name the value as given, not as converted
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        if not isinstance(v, str):
            raise _fail(f, raw, where)
        try:
            v = float(v) if not integer else int(v)
        except ValueError:
            raise _fail(f, raw, where) from None
    if integer:
        if isinstance(v, float):
            if not math.isfinite(v) or v != int(v):
                raise _fail(f, raw, where)
            v = int(v)
    else:
        v = float(v)
        if f.meta.get("finite", True) and not math.isfinite(v):
            raise _fail(f, raw, where)
    m = f.meta
    if (m.get("gt") is not None and not v > m["gt"]) or (m.get("ge") is not None and not v >= m["ge"]) or \
            (m.get("lt") is not None and not v < m["lt"]) or (m.get("le") is not None and not v <= m["le"]):
        raise _fail(f, raw, where)
    return v


def coerce(f: FlatField, v, where: str = ""):
    """The checked, typed value of one field (raises :class:`ParameterError`)."""
    if v is None or (f.optional and v == ""):
        if f.optional:
            return None
        raise _fail(f, v, where)
    k = f.kind
    if k == "bool":
        if isinstance(v, str) and v.lower() in ("true", "false"):
            v = v.lower() == "true"
        if not isinstance(v, bool):
            raise _fail(f, v, where)
        out = v
    elif k in ("int", "float"):
        out = _number(f, v, where, integer=k == "int")
    elif k == "str":
        if not isinstance(v, str):
            raise _fail(f, v, where)
        out = v
    else:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        if not isinstance(v, (list, tuple)):
            raise _fail(f, v, where)
        if k == "str_tuple":
            if not all(isinstance(s, str) for s in v):
                raise _fail(f, v, where)
            out = tuple(v)
        else:
            sub = FlatField(f.name, "float" if k == "float_tuple" else "int", None, False, f.meta)
            try:
                out = tuple(_number(sub, x, where, integer=k == "int_tuple") for x in v)
            except ParameterError:
                raise _fail(f, v, where) from None
        return out
    choices = f.meta.get("choices")
    if choices and out not in choices:
        raise _fail(f, out, where)
    return out


def build(cls, values: dict | None = None, base=None, where: str = ""):
    """An instance of ``cls`` from dotted ``values`` (missing ones keep ``base``'s, else the defaults).
    ``where`` prefixes messages (e.g. ``"twin_node: "``). Unknown names raise :class:`ParameterError`."""
    values = dict(values or {})
    fields = {f.name: f for f in flat_fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParameterError(f"{where}unknown parameter {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    checked = {n: coerce(fields[n], v, where) for n, v in values.items()}
    return _assemble(cls, checked, base, "")


def _assemble(cls, checked: dict, base, prefix: str):
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        name = prefix + f.name
        kind, _ = _kind_of(hints[f.name])
        if kind is None:
            tp = hints[f.name]
            sub_cls = typing.get_args(tp)[0] if typing.get_origin(tp) in (typing.Union, types.UnionType) else tp
            sub_base = getattr(base, f.name) if base is not None else None
            if any(k.startswith(name + ".") for k in checked) or sub_base is None:
                kwargs[f.name] = _assemble(sub_cls, checked, sub_base, name + ".")
            else:
                kwargs[f.name] = sub_base
        elif name in checked:
            kwargs[f.name] = checked[name]
        elif base is not None:
            kwargs[f.name] = getattr(base, f.name)
    return cls(**kwargs)


def to_flat(cfg) -> dict:
    """``{dotted name: value}`` of a config instance (the inverse of :func:`build`)."""
    out = {}
    for f in flat_fields(type(cfg)):
        v = cfg
        for part in f.name.split("."):
            v = getattr(v, part)
        out[f.name] = v
    return out


def from_dict(cls, d: dict):
    """A (nested) config from :func:`dataclasses.asdict`'s output; unknown keys are refused, missing keep defaults
    (so an older saved config still loads)."""
    flat = {}

    def walk(prefix, x):
        for k, v in x.items():
            if isinstance(v, dict):
                walk(prefix + k + ".", v)
            else:
                flat[prefix + k] = list(v) if isinstance(v, tuple) else v
    walk("", d)
    return build(cls, flat)
