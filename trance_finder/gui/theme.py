"""A dark, producer-friendly look: Fusion, a dark palette, one accent colour, readable type."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

BG = "#17191e"
PANEL = "#1e2128"
BASE = "#15171b"
ALT = "#1b1e24"
BORDER = "#2c313a"
TEXT = "#e6e8ec"
MUTED = "#9aa3b2"
ACCENT = "#27c4d9"  # cyan: selection, WIP, primary buttons
ACCENT_2 = "#f2a541"  # amber: reference (B), warnings
GOOD = "#5bd17c"
BAD = "#ef5b5b"
WIP_COLOR = "#ffffff"
BLEND_COLOR = "#ff5fd2"

# cluster colours: distinct on a dark background (Tableau-like, brightened)
# (every pair at least 25 apart in CIE76 Lab; tests/test_gui_layout.py checks it)
CLUSTER_COLORS = ["#4cc9f0", "#f72585", "#b5e48c", "#ffb703", "#9d4edd", "#ff6b35", "#06d6a0", "#c9a27e",
                  "#3a6bff", "#ff99c8", "#8d99ae", "#e9ff70"]


def cluster_color(i: int) -> QColor:
    return QColor(CLUSTER_COLORS[i % len(CLUSTER_COLORS)])


STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BG}; }}
QWidget {{ color: {TEXT}; }}
QToolTip {{ color: {TEXT}; background: {PANEL}; border: 1px solid {BORDER}; padding: 4px; }}
QFrame#card, QWidget#card {{ background: {PANEL}; border: 1px solid {BORDER}; border-radius: 8px; }}
QLabel#title {{ font-size: 17pt; font-weight: 600; }}
QLabel#heading {{ font-size: 11pt; font-weight: 600; color: {TEXT}; }}
QLabel#muted, QLabel#hint {{ color: {MUTED}; }}
QLabel#stat {{ font-size: 12pt; font-weight: 600; }}
QLabel#statname {{ color: {MUTED}; font-size: 8.5pt; text-transform: uppercase; }}
QLabel#cluster {{ font-size: 13pt; font-weight: 600; color: {ACCENT}; }}
QFrame#banner {{ background: #1f3540; border: 1px solid #2f5866; border-radius: 8px; }}
QFrame#banner QLabel {{ color: #d8f3f8; }}
QFrame#error {{ background: #3a1f24; border: 1px solid #6b2f38; border-radius: 8px; }}
QPushButton, QToolButton {{ background: #2a2f38; border: 1px solid {BORDER}; border-radius: 6px;
    padding: 5px 12px; }}
QPushButton:hover, QToolButton:hover {{ background: #333a45; }}
QPushButton:pressed, QToolButton:pressed {{ background: #242830; }}
QPushButton:checked, QToolButton:checked {{ background: #1d4e57; border-color: {ACCENT}; }}
QPushButton:disabled, QToolButton:disabled {{ color: #5d6470; background: #22262d; }}
QPushButton#primary {{ background: {ACCENT}; color: #0d1013; font-weight: 600; border: none; }}
QPushButton#primary:hover {{ background: #4fd5e6; }}
QPushButton#primary:disabled {{ background: #22262d; color: #5d6470; border: 1px solid {BORDER}; }}
QPushButton#danger {{ background: #5a2a30; border-color: #7c3540; }}
QTableView, QListWidget, QTreeView, QPlainTextEdit {{ background: {BASE}; alternate-background-color: {ALT};
    border: 1px solid {BORDER}; border-radius: 6px; gridline-color: {BORDER};
    selection-background-color: #1d4e57; selection-color: {TEXT}; }}
QTreeWidget::item, QListWidget::item {{ padding: 3px 2px; }}
QHeaderView::section {{ background: {PANEL}; color: {MUTED}; border: none; border-bottom: 1px solid {BORDER};
    padding: 4px 6px; font-weight: 600; }}
QLineEdit, QSpinBox, QDoubleSpinBox, QComboBox {{ background: {BASE}; border: 1px solid {BORDER};
    border-radius: 5px; padding: 3px 6px; min-height: 20px; }}
QSpinBox, QDoubleSpinBox {{ padding-right: 20px; }}
QSpinBox::up-button, QDoubleSpinBox::up-button {{ subcontrol-origin: border; subcontrol-position: top right;
    width: 18px; border-left: 1px solid {BORDER}; border-top-right-radius: 5px; background: #2a2f38; }}
QSpinBox::down-button, QDoubleSpinBox::down-button {{ subcontrol-origin: border;
    subcontrol-position: bottom right; width: 18px; border-left: 1px solid {BORDER};
    border-bottom-right-radius: 5px; background: #2a2f38; }}
QSpinBox::up-button:hover, QDoubleSpinBox::up-button:hover, QSpinBox::down-button:hover,
    QDoubleSpinBox::down-button:hover {{ background: #333a45; }}
QSpinBox::up-arrow, QDoubleSpinBox::up-arrow {{ image: url(@UP@); width: 9px; height: 6px; }}
QSpinBox::down-arrow, QDoubleSpinBox::down-arrow {{ image: url(@DOWN@); width: 9px; height: 6px; }}
QSpinBox::up-arrow:disabled, QDoubleSpinBox::up-arrow:disabled {{ image: url(@UP_OFF@); }}
QSpinBox::down-arrow:disabled, QDoubleSpinBox::down-arrow:disabled {{ image: url(@DOWN_OFF@); }}
QCheckBox {{ color: {TEXT}; spacing: 6px; }}
QCheckBox::indicator {{ width: 14px; height: 14px; border: 1px solid {MUTED}; border-radius: 3px;
    background: {BASE}; }}
QCheckBox::indicator:checked {{ background: {ACCENT}; border-color: {ACCENT}; }}
QLineEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus, QComboBox:focus, QTableView:focus, QTreeView:focus,
    QListWidget:focus {{ border: 1px solid {ACCENT}; }}
QPushButton:focus, QToolButton:focus, QCheckBox:focus {{ outline: none; border: 1px solid {ACCENT}; }}
QComboBox QAbstractItemView {{ background: {PANEL}; selection-background-color: #1d4e57; }}
QProgressBar {{ background: {BASE}; border: 1px solid {BORDER}; border-radius: 5px; text-align: center;
    min-height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 4px; }}
QSlider::groove:horizontal {{ height: 6px; background: #2a2f38; border-radius: 3px; }}
QSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 3px; }}
QSlider::handle:horizontal {{ background: {TEXT}; width: 14px; margin: -5px 0; border-radius: 7px; }}
QTabWidget::pane {{ border: 1px solid {BORDER}; border-radius: 6px; top: -1px; }}
QTabBar::tab {{ background: {PANEL}; color: {MUTED}; padding: 6px 14px; border: 1px solid {BORDER};
    border-bottom: none; border-top-left-radius: 6px; border-top-right-radius: 6px; margin-right: 2px; }}
QTabBar::tab:selected {{ color: {TEXT}; background: #262b33; }}
QDockWidget::title {{ background: {PANEL}; padding: 6px; font-weight: 600; }}
QSplitter::handle {{ background: {BG}; }}
QSplitter::handle:horizontal {{ width: 6px; }}
QSplitter::handle:vertical {{ height: 6px; }}
QStatusBar {{ background: {PANEL}; color: {MUTED}; }}
QGroupBox {{ border: 1px solid {BORDER}; border-radius: 6px; margin-top: 14px; padding-top: 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: {MUTED}; font-weight: 600; }}
QMenuBar {{ background: {PANEL}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: #1d4e57; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; }}
"""


def dark_palette() -> QPalette:
    p = QPalette()
    roles = {
        QPalette.Window: BG, QPalette.WindowText: TEXT, QPalette.Base: BASE, QPalette.AlternateBase: ALT,
        QPalette.ToolTipBase: PANEL, QPalette.ToolTipText: TEXT, QPalette.Text: TEXT, QPalette.Button: "#2a2f38",
        QPalette.ButtonText: TEXT, QPalette.BrightText: "#ffffff", QPalette.Highlight: "#1d6f7c",
        QPalette.HighlightedText: "#ffffff", QPalette.Link: ACCENT, QPalette.PlaceholderText: "#6c7480",
    }
    for role, colour in roles.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        p.setColor(QPalette.Disabled, role, QColor("#5d6470"))
    return p


def arrow_images() -> dict[str, str]:
    """Small up/down arrow PNGs for the spin boxes (a styled QSpinBox draws no arrows of its own), drawn
    with QPainter once into the user cache folder (no image files to ship)."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QImage, QPainter, QPolygonF

    from trance_finder import paths

    folder = paths.user_cache_dir() / "theme"
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, up, colour in (("UP", True, TEXT), ("DOWN", False, TEXT), ("UP_OFF", True, "#5d6470"),
                            ("DOWN_OFF", False, "#5d6470")):
        path = folder / f"spin_{key.lower()}_v1.png"
        if not path.exists():
            img = QImage(18, 12, QImage.Format_ARGB32)
            img.fill(Qt.transparent)
            p = QPainter(img)
            p.setRenderHint(QPainter.Antialiasing, True)
            p.setPen(Qt.NoPen)
            p.setBrush(QColor(colour))
            pts = [QPointF(1, 11), QPointF(17, 11), QPointF(9, 1)] if up else \
                [QPointF(1, 1), QPointF(17, 1), QPointF(9, 11)]
            p.drawPolygon(QPolygonF(pts))
            p.end()
            img.save(str(path))
        out[key] = path.as_posix()
    return out


def stylesheet() -> str:
    sheet = STYLESHEET
    try:
        arrows = arrow_images()
    except OSError:  # a read-only cache folder: spin boxes keep their buttons, without arrows
        arrows = {}
    for key in ("UP_OFF", "DOWN_OFF", "UP", "DOWN"):
        sheet = sheet.replace(f"@{key}@", arrows.get(key, ""))
    return sheet


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setProperty("trance_finder_style", "Fusion")
    app.setPalette(dark_palette())
    font = QFont(app.font())
    if font.pointSizeF() < 10:
        font.setPointSizeF(10)
    app.setFont(font)
    app.setStyleSheet(stylesheet())
    try:
        import pyqtgraph as pg

        pg.setConfigOptions(antialias=True, background=BASE, foreground=MUTED)
    except ImportError:  # pragma: no cover
        pass
