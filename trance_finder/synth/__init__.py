"""Synthetic trance: test and demo data with known styles and sections (not product logic).

The generator lives in ``generator``; ``from trance_finder import synth`` gives its public names.
"""

from trance_finder.synth import generator as generator
from trance_finder.synth.generator import *  # noqa: F401,F403
from trance_finder.synth.generator import _plan  # noqa: F401  (tests read the track plan)
