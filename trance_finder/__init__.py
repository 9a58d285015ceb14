"""Trance Finder: which of my reference tracks does this WIP sound like?"""

__version__ = "0.1.0"
