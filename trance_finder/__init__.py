"""Trance Finder: which of my reference tracks does this WIP sound like?"""

__version__ = "0.1.0"


def _configure_core() -> None:
    # the app layer tells core where the shipped backbone weights are (source checkout or bundle)
    from trance_finder.core import resources
    from trance_finder.paths import bundled_model_path

    resources.set_weights_dir(bundled_model_path())


_configure_core()
