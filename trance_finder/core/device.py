"""Torch device choice: 'auto' picks CUDA when a working one is present."""

from __future__ import annotations


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def describe_devices() -> str:
    """One line for the settings panel: what the machine offers."""
    if cuda_available():
        import torch

        return f"CUDA: {torch.cuda.get_device_name(0)}"
    return "CPU only (no CUDA device detected)"


def resolve_device(preference: str = "auto") -> str:
    preference = (preference or "auto").lower()
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {preference!r}")
    if preference == "cpu":
        return "cpu"
    if preference == "cuda":
        if not cuda_available():
            from trance_finder.errors import TranceFinderError

            raise TranceFinderError("CUDA was requested but no CUDA device is available; use --device cpu")
        return "cuda"
    return "cuda" if cuda_available() else "cpu"
