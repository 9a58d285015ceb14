"""Application entry points: ``run_app`` (the ``trance-finder`` command) and ``create_main_window``
(used by the frozen app's self-test). Sets the app identity, the dark theme, logging to the user log
folder, and an excepthook that logs uncaught exceptions and names the log file in a dialog."""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
import traceback

from trance_finder import paths as app_paths

APP_DISPLAY_NAME = "Trance Finder"
LOG_NAME = "trance_finder.log"
log = logging.getLogger("trance_finder")
_app = None  # keeps the QApplication alive when create_main_window made it


def log_file():
    return app_paths.user_log_dir() / LOG_NAME


def setup_logging(level: int = logging.INFO):
    """A rotating log file in the user log folder (once per process)."""
    path = log_file()
    for h in log.handlers:
        if isinstance(h, logging.FileHandler) and getattr(h, "baseFilename", "") == str(path):
            return path
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    return path


def _show_crash_dialog(text: str) -> None:
    from PySide6.QtWidgets import QApplication, QMessageBox

    app = QApplication.instance()
    if app is None or threading.current_thread() is not threading.main_thread():
        return
    box = QMessageBox(QMessageBox.Critical, APP_DISPLAY_NAME,
                      "Something went wrong inside Trance Finder. The app keeps running, but you may want to "
                      f"restart it.\n\nDetails were written to:\n{log_file()}")
    box.setDetailedText(text)
    box.exec()


def excepthook(exc_type, exc, tb) -> None:
    """Log any uncaught exception (UI thread included) and tell the user where the log is."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    text = "".join(traceback.format_exception(exc_type, exc, tb))
    try:
        setup_logging()
        log.error("uncaught exception:\n%s", text)
    except OSError:
        pass
    _stderr(text)
    try:
        _show_crash_dialog(text)
    except Exception:  # noqa: BLE001 - the hook itself must never raise
        pass


def _thread_excepthook(args) -> None:
    if args.exc_type is SystemExit:
        return
    excepthook(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthook() -> None:
    sys.excepthook = excepthook
    threading.excepthook = _thread_excepthook


def ensure_app(argv=None):
    """The QApplication (made, named and themed once)."""
    global _app
    from PySide6.QtWidgets import QApplication

    from trance_finder import __version__
    from trance_finder.gui.theme import apply_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(list(argv) if argv is not None else [sys.argv[0] if sys.argv else "trance-finder"])
        _app = app
    if app.property("trance_finder_ready") is not True:
        app.setApplicationName(app_paths.APP_NAME)
        app.setOrganizationName(app_paths.APP_AUTHOR)
        app.setApplicationDisplayName(APP_DISPLAY_NAME)
        app.setApplicationVersion(__version__)
        apply_theme(app)
        app.setProperty("trance_finder_ready", True)
    return app


def create_main_window(model_path=None, index_path=None, use_demo: bool = True, **kwargs):
    """The main window (not shown). Opens the given model + index, else the user's trained model, else
    (``use_demo``) the built-in demo library. Extra keyword arguments go to ``MainWindow``."""
    ensure_app()
    from trance_finder.gui.main_window import MainWindow

    return MainWindow(model_path=model_path, index_path=index_path, use_demo=use_demo, **kwargs)


def _close_on_ctrl_c(app) -> None:
    """Ctrl+C in the terminal closes the windows (saving settings, stopping workers) instead of being
    swallowed by Qt's event loop; a slow timer lets Python run its signal handler."""
    import signal

    from PySide6.QtCore import QTimer

    try:
        signal.signal(signal.SIGINT, lambda *_: app.closeAllWindows())
    except ValueError:  # not the main thread (embedded use)
        return
    timer = QTimer(app)
    timer.setInterval(300)
    timer.timeout.connect(lambda: None)
    timer.start()


def _stderr(text: str) -> None:
    """Write to stderr when there is one (a windowed Windows/macOS build has none)."""
    if sys.stderr is not None:
        sys.stderr.write(text)


def _no_display() -> bool:
    """On Linux/BSD without X11 or Wayland (and no QT_QPA_PLATFORM), Qt would abort the process."""
    import os

    if sys.platform.startswith(("win", "darwin")) or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_app(query: str | None = None, argv=None, model_path=None, index_path=None) -> int:
    """Open the app (optionally with a WIP loaded); returns the exit code."""
    if _no_display():
        _stderr("error: no display found (DISPLAY / WAYLAND_DISPLAY unset), so the window cannot open.\n"
                "The command line works without one: trance-finder demo | similar | train (see --help).\n")
        return 1
    try:
        setup_logging()
    except OSError as exc:  # a read-only log folder must not stop the app
        _stderr(f"warning: no log file ({exc})\n")
    install_excepthook()
    app = ensure_app(argv)
    log.info("starting %s", APP_DISPLAY_NAME)
    window = create_main_window(model_path=model_path, index_path=index_path)
    window.show()
    if query:
        window.open_query(query)
    _close_on_ctrl_c(app)
    code = int(app.exec())
    log.info("exit %d", code)
    return code
