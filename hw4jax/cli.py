"""What every hw4jax script shares on the command line: bad input is one line and exit 2,
and flags generated from a settings dataclass."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing

EXIT_BAD_INPUT = 2


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line, ``error: ...`` on stderr,
    and exit status 2: the same shape as the scripts' other bad-input errors (argparse's own
    would print the whole usage block first)."""

    def error(self, message: str):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)


def _flag(field: dataclasses.Field) -> str:
    """The field's flag: ``metadata['flag']``, else ``--name-with-dashes``; a bool field
    that defaults to True is switched off by ``--no-name``."""
    name = field.name.replace("_", "-")
    if "flag" in field.metadata:
        return field.metadata["flag"]
    return f"--no-{name}" if field.default is True else f"--{name}"


def _dest(field: dataclasses.Field) -> str:
    """Where argparse keeps the flag's value: the field's name, or 'no_<name>' for the
    switch that turns a True default off."""
    return f"no_{field.name}" if field.default is True else field.name


def _value_type(annotation) -> type:
    """``int`` of ``int | None``, ``str`` of ``str``: the type a flag's text converts to."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = [a for a in typing.get_args(annotation) if a is not type(None)]
    return annotation


def add_dataclass_flags(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per field of the dataclass ``cls``, in field order.

    A field's metadata gives the flag's ``help`` and optionally ``flag`` (its name),
    ``choices`` and ``flag_default`` (the flag's default when it differs from the field's,
    e.g. None for "derive it"). A bool field is a switch that flips its default
    (``--no-augment`` for a True default, ``--resume`` for a False one).
    """
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        meta = field.metadata
        kwargs = {"dest": _dest(field), "help": meta.get("help")}
        if hints[field.name] is bool:
            kwargs["action"] = "store_true"  # the switch is off by default, as --help says
        else:
            kwargs["type"] = _value_type(hints[field.name])
            kwargs["default"] = meta.get("flag_default", field.default)
            if "choices" in meta:
                kwargs["choices"] = meta["choices"]
            else:  # named after the flag, as argparse would for a flag named like its field
                kwargs["metavar"] = _flag(field).lstrip("-").replace("-", "_").upper()
        parser.add_argument(_flag(field), **kwargs)


def dataclass_values(cls: type, args: argparse.Namespace) -> dict:
    """The field values of ``cls`` among parsed ``args`` (from ``add_dataclass_flags``),
    leaving out flags whose value is None where the field's default is not None, so that
    the field's own default (or a derived one) applies."""
    values = {}
    for field in dataclasses.fields(cls):
        value = getattr(args, _dest(field))
        if _dest(field) != field.name:  # a '--no-x' switch
            value = not value
        if value is None and field.default is not None:
            continue
        values[field.name] = value
    return values
