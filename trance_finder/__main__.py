import sys

from trance_finder.cli import main

sys.exit(main())
