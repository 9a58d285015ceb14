"""The desktop app (PySide6 + pyqtgraph). Entry points: ``trance_finder.gui.app.run_app`` and
``create_main_window``. Heavy work runs in ``workers`` threads on the Qt-free jobs in ``tasks``."""

from trance_finder.gui._pyside_fix import protect_singletons

protect_singletons()  # PySide6 6.12 on Python < 3.12 leaks references to None / True: see _pyside_fix
