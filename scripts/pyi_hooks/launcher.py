"""Entry script of the frozen app (``trance_finder.spec``): the same ``main()`` as ``trance-finder``.

A separate script (rather than ``trance_finder/__main__.py``) so that PyInstaller does not put the
package folder itself on the module search path.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # torch / joblib worker processes re-enter the frozen executable
    from trance_finder.cli import main

    sys.exit(main())
