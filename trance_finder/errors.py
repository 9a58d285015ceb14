"""Errors the app reports to the user. Each carries a message meant to be shown as is."""


class TranceFinderError(Exception):
    """Base class: something the user can act on (bad file, mismatched model...)."""


class AudioLoadError(TranceFinderError):
    """A file could not be read as usable audio (unreadable, empty, silent, too short, NaNs...)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelError(TranceFinderError):
    """A model, profile or index file is missing, malformed or does not fit the others."""


class IndexMismatchError(ModelError):
    """An index was built by a different model or backbone than the one loaded."""


class BackboneUnavailableError(TranceFinderError):
    """A backbone was asked for whose package or weights are not installed."""


class Cancelled(Exception):
    """Raised inside a long job when its cancel token is set. Not an error for the user."""
