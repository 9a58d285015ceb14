"""Backbone registry. Modules are imported lazily so a missing optional package only matters
when that backbone is asked for."""

from __future__ import annotations

import importlib

from trance_finder.core.backbones.base import Backbone, BackboneOutput
from trance_finder.errors import BackboneUnavailableError

DEFAULT_BACKBONE = "musicnn"

# name -> (module, class name)
_REGISTRY = {
    "musicnn": ("trance_finder.core.backbones.musicnn", "MusicnnBackbone"),
    "musicnn_mtt": ("trance_finder.core.backbones.musicnn", "MusicnnMttBackbone"),
    "vgg_msd": ("trance_finder.core.backbones.musicnn", "VggMsdBackbone"),
    "vgg_mtt": ("trance_finder.core.backbones.musicnn", "VggMttBackbone"),
    "dsp": ("trance_finder.core.backbones.dsp", "DspBackbone"),
    "openl3": ("trance_finder.core.backbones.openl3", "OpenL3Backbone"),
}


def backbone_names() -> list[str]:
    return list(_REGISTRY)


def _backbone_class(name: str):
    if name not in _REGISTRY:
        raise BackboneUnavailableError(f"unknown backbone {name!r}; choose one of {', '.join(_REGISTRY)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def availability(name: str) -> tuple[bool, str]:
    """(usable, reason) without building the backbone (cheap: used by settings UI and CLI help)."""
    try:
        cls = _backbone_class(name)
    except BackboneUnavailableError as exc:
        return False, str(exc)
    check = getattr(cls, "check_available", None)
    if check is None:
        return True, ""
    return check()


def get_backbone(name: str = DEFAULT_BACKBONE, device: str = "cpu", **kwargs) -> Backbone:
    ok, reason = availability(name)
    if not ok:
        raise BackboneUnavailableError(f"backbone {name!r} is not available: {reason}")
    return _backbone_class(name)(device=device, **kwargs)


__all__ = ["Backbone", "BackboneOutput", "DEFAULT_BACKBONE", "backbone_names", "availability", "get_backbone"]
