"""Guard rails: core never imports Qt or sounddevice; the openl3 wrapper works against the package API."""

import ast
import sys
import types
from pathlib import Path

import numpy as np
import pytest

CORE = Path(__file__).resolve().parent.parent / "trance_finder" / "core"
FORBIDDEN = {"PySide6", "pyqtgraph", "sounddevice", "shiboken6"}
#: app concerns core must not know: the command line, the GUI, the app's folders, the demo, the synthesizer
FORBIDDEN_APP = ("trance_finder.cli", "trance_finder.gui", "trance_finder.paths", "trance_finder.demo",
                 "trance_finder.synth", "trance_finder.playback", "trance_finder.commands")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "trance_finder":
                names += [f"trance_finder.{a.name}" for a in node.names]
    return names


def test_core_never_imports_qt_or_sounddevice():
    offenders = [f"{p.name}: {n}" for p in CORE.rglob("*.py") for n in _imports(p) if n.split(".")[0] in FORBIDDEN]
    assert not offenders


def test_core_never_imports_app_concerns():
    offenders = [f"{p.name}: {n}" for p in CORE.rglob("*.py") for n in _imports(p)
                 if any(n == a or n.startswith(a + ".") for a in FORBIDDEN_APP)]
    assert not offenders


@pytest.fixture
def fake_openl3(monkeypatch):
    calls = {}
    mod = types.ModuleType("openl3")
    mod.models = types.SimpleNamespace(
        load_audio_embedding_model=lambda **kw: calls.setdefault("model", kw) and "MODEL")

    def get_audio_embedding(audio, sr, **kw):
        calls["embed"] = dict(kw, sr=sr, n=len(audio))
        frames = int(len(audio) / sr / kw["hop_size"]) + 1
        return np.tile(np.arange(6144, dtype=np.float32), (frames, 1)), np.arange(frames) * kw["hop_size"]

    mod.get_audio_embedding = get_audio_embedding
    monkeypatch.setitem(sys.modules, "openl3", mod)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object() if name == "openl3" else None)
    return calls


def test_openl3_wrapper_uses_the_spec_settings(fake_openl3):
    from trance_finder.core.backbones import get_backbone

    b = get_backbone("openl3")
    assert fake_openl3["model"] == {"input_repr": "mel128", "content_type": "music", "embedding_size": 6144}
    out = b.analyse(np.zeros(48000 * 2, np.float32))
    assert fake_openl3["embed"]["hop_size"] == 0.5 and fake_openl3["embed"]["sr"] == 48000
    assert fake_openl3["embed"]["model"] == "MODEL"
    assert out.frames.shape[1] == 6144 and b.dim == 6144
    np.testing.assert_array_equal(b.pool(out.frames), np.arange(6144, dtype=np.float32))  # mean pooling
    assert b.params["embedding_size"] == 6144 and "openl3" in b.id


def test_openl3_missing_is_a_clear_message(monkeypatch):
    from trance_finder.core.backbones import availability, get_backbone
    from trance_finder.errors import BackboneUnavailableError

    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    ok, reason = availability("openl3")
    assert not ok and "pip install" in reason
    with pytest.raises(BackboneUnavailableError, match="openl3"):
        get_backbone("openl3")


@pytest.mark.openl3
def test_real_openl3_when_installed():
    pytest.importorskip("openl3")
    from trance_finder.core.backbones import get_backbone

    b = get_backbone("openl3")
    t = np.arange(48000 * 2) / 48000
    out = b.analyse((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))
    assert out.frames.shape[1] == 6144 and np.isfinite(out.frames).all()
