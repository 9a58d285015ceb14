"""Subcommands that live in their own module (one file each: ``register(subparsers)`` adds the parser
and sets ``func``). ``cli.build_parser`` registers every module named here, in this order."""

from __future__ import annotations

import importlib

#: module names under trance_finder.commands
MODULES: list[str] = ["compare", "update", "sections"]


def register_all(subparsers) -> None:
    for name in MODULES:
        importlib.import_module(f"trance_finder.commands.{name}").register(subparsers)
