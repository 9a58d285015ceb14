"""A Qt-free A/B player around one sounddevice OutputStream.

Two slots hold decoded audio: "A" (the WIP) and "B" (a reference). One of them is *active*; switching
keeps the relative position (50 % into the WIP -> 50 % into the reference), so a producer hears the
same part of both songs. Every slot carries a gain in dB (the loudness match), applied while copying.

Loops: each slot can loop a range (``set_loop(slot, start, end, lufs=None)``; the WIP's drop 1 in A, the
reference's drop 1 in B). Playback that reaches the end of the active slot's loop wraps to its start;
A/B switching with both slots looped keeps the place *inside* the loop (3 bars into an 8-bar loop ->
3 bars into the other 8-bar loop), into a looped slot from an unlooped one lands at the loop's start
plus the same offset. A loop given with the loudness of its passage (``lufs``) makes the loudness match
use that passage instead of the whole file, so the two loops are compared at equal loudness; the gain
applied to each side is ``gain_db(slot)`` (for display).

The audio callback only copies (and scales) frames from the active buffer into the device buffer and
moves a frame counter: no allocation, no decoding, no resampling, no Qt. Buffers must already be at
the stream's sample rate (decode and resample in a worker, see ``trance_finder.gui.tasks``).

The stream is made by an injectable factory ``stream_factory(samplerate, channels, blocksize, callback)``
returning an object with ``start()``, ``stop()`` and ``close()``; tests pass a fake stream and pull
frames through the callback by hand.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SLOTS = ("A", "B")
TARGET_LUFS = -14.0  # same as trance_finder.core.audio.TARGET_LUFS (kept here: this module is Qt- and core-free)


def match_gains(lufs_a: float | None, lufs_b: float | None = None, target: float = TARGET_LUFS) -> tuple[float, float]:
    """Loudness-match gains in dB for (A, B) that never boost: both sides meet at the quieter one.

    With both loudnesses known each side gets ``min(lufs_a, lufs_b) - lufs`` (<= 0 dB); with one side
    only it is attenuated toward ``target`` (``min(0, target - lufs)``). Unknown or silent sides get 0 dB.
    """
    known = [x for x in (lufs_a, lufs_b) if x is not None and np.isfinite(x)]
    level = min(known) if len(known) == 2 else min(target, *known) if known else target
    return tuple(min(0.0, level - float(x)) if x is not None and np.isfinite(x) else 0.0
                 for x in (lufs_a, lufs_b))


class PlaybackUnavailable(RuntimeError):
    """No audio output (no PortAudio, no output device): playback controls are disabled."""


def _sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as exc:  # OSError: the PortAudio library itself is missing
        raise PlaybackUnavailable(f"audio output is unavailable: {exc}") from exc
    return sounddevice


def probe_output(device=None) -> tuple[bool, float, str]:
    """(usable, default sample rate, reason) for the default (or given) output device."""
    try:
        sd = _sounddevice()
        info = sd.query_devices(device if device is not None else None, kind="output")
    except PlaybackUnavailable as exc:
        return False, 0.0, str(exc)
    except Exception as exc:  # PortAudioError, ValueError: no such device
        return False, 0.0, f"no audio output device found ({exc})"
    if not info or int(info.get("max_output_channels", 0)) < 1:
        return False, 0.0, "no audio output device found"
    return True, float(info.get("default_samplerate") or 48000.0), ""


def sounddevice_stream(samplerate: float, channels: int, blocksize: int, callback, device=None):
    """The default stream factory: a float32 sounddevice OutputStream."""
    sd = _sounddevice()
    return sd.OutputStream(samplerate=samplerate, channels=channels, blocksize=blocksize, dtype="float32",
                           callback=callback, device=device)


@dataclass
class Source:
    """Audio ready to play: (frames, channels) float32 at the stream rate, with its gain."""

    buffer: np.ndarray
    samplerate: float
    gain_db: float = 0.0
    label: str = ""
    lufs: float | None = None  # integrated loudness; when set the gain is matched to the other slot
    loop: tuple[int, int] | None = None  # looped frames [start, end)
    loop_lufs: float | None = None  # loudness of the looped passage (used for the match while looping)

    @property
    def match_lufs(self) -> float | None:
        """The loudness the match uses: the looped passage's when known, else the whole file's."""
        return self.loop_lufs if self.loop is not None and self.loop_lufs is not None else self.lufs

    @property
    def frames(self) -> int:
        return int(self.buffer.shape[0])

    @property
    def duration(self) -> float:
        return self.frames / float(self.samplerate) if self.samplerate else 0.0

    @property
    def gain(self) -> np.float32:
        return np.float32(10.0 ** (self.gain_db / 20.0))


class Player:
    """A/B player; thread-safe (UI thread calls methods, the audio thread calls ``_callback``)."""

    def __init__(self, samplerate: float | None = None, channels: int = 2, blocksize: int = 1024,
                 stream_factory: Callable | None = None, device=None):
        if samplerate is None:
            ok, rate, reason = probe_output(device)
            if not ok:
                raise PlaybackUnavailable(reason)
            samplerate = rate
        self.samplerate = float(samplerate)
        self.channels = int(channels)
        self.blocksize = int(blocksize)
        self.device = device
        self._factory = stream_factory or (lambda sr, ch, bs, cb: sounddevice_stream(sr, ch, bs, cb, device))
        self._stream = None
        self._lock = threading.Lock()
        self._sources: dict[str, Source | None] = {s: None for s in SLOTS}
        self._active = "A"
        self._pos = 0  # frame position in the active source
        self._playing = False
        self._finished = False  # set by the callback when the active source ran out

    # -- sources ------------------------------------------------------------------------------------
    def set_source(self, buffer, sr: float, gain_db: float = 0.0, slot: str = "A", label: str = "",
                   lufs: float | None = None) -> None:
        """Put audio into a slot. ``buffer`` is (frames, channels) or mono (frames,), at the stream rate.

        With ``lufs`` the slot's gain is loudness-matched (``match_gains``) and both slots' gains are
        recomputed; otherwise ``gain_db`` is used as given.
        When the slot is the active one the playback position keeps its relative place in the song.
        """
        self._check_slot(slot)
        if abs(float(sr) - self.samplerate) > 0.5:
            raise ValueError(f"source is at {sr:g} Hz but the stream runs at {self.samplerate:g} Hz; "
                             "resample it while decoding")
        buf = np.asarray(buffer, dtype=np.float32)
        if buf.ndim == 1:
            buf = buf[:, None]
        if buf.shape[1] != self.channels:  # mono -> all channels, more -> the first ones
            buf = np.repeat(buf[:, :1], self.channels, axis=1) if buf.shape[1] == 1 else buf[:, : self.channels]
        src = Source(np.ascontiguousarray(buf), float(sr), float(gain_db), label, lufs)
        with self._lock:
            old = self._sources[slot]
            self._sources[slot] = src
            self._match_loudness()
            if slot == self._active:
                frac = self._pos / old.frames if old is not None and old.frames else 0.0
                self._pos = min(int(frac * src.frames), max(0, src.frames - 1))
                self._finished = False

    def set_gain(self, slot: str, gain_db: float) -> None:
        self._check_slot(slot)
        with self._lock:
            if self._sources[slot] is not None:
                self._sources[slot].gain_db = float(gain_db)

    def clear(self, slot: str) -> None:
        self._check_slot(slot)
        with self._lock:
            self._sources[slot] = None
            self._match_loudness()
            if slot == self._active:
                self._playing = False
                self._pos = 0

    def _match_loudness(self) -> None:
        """Recompute the gains of the slots that carry a loudness (call with the lock held)."""
        srcs = [self._sources[s] for s in SLOTS]
        gains = match_gains(*(s.match_lufs if s is not None else None for s in srcs))
        for src, gain in zip(srcs, gains, strict=True):
            if src is not None and src.match_lufs is not None:
                src.gain_db = float(gain)

    def gain_db(self, slot: str) -> float | None:
        """The gain (dB) applied to ``slot`` while playing; None when the slot is empty."""
        self._check_slot(slot)
        src = self._sources[slot]
        return None if src is None else float(src.gain_db)

    # -- loops --------------------------------------------------------------------------------------
    def set_loop(self, slot: str, start: float, end: float, lufs: float | None = None) -> None:
        """Loop ``[start, end)`` seconds of ``slot``. With ``lufs`` (the passage's integrated loudness) the
        loudness match uses the loops. When ``slot`` is active and the position is outside the new loop,
        it moves to the loop's start."""
        self._check_slot(slot)
        with self._lock:
            src = self._sources[slot]
            if src is None:
                raise ValueError(f"slot {slot} is empty: load audio before setting a loop")
            a = int(np.clip(round(start * src.samplerate), 0, max(0, src.frames - 1)))
            b = int(np.clip(round(end * src.samplerate), 0, src.frames))
            if b - a < 2:
                raise ValueError(f"loop {start:.3f}-{end:.3f} s is empty in slot {slot}")
            src.loop = (a, b)
            src.loop_lufs = None if lufs is None or not np.isfinite(lufs) else float(lufs)
            self._match_loudness()
            if slot == self._active and not a <= self._pos < b:
                self._pos = a
                self._finished = False

    def clear_loop(self, slot: str | None = None) -> None:
        """Stop looping ``slot`` (both slots when None); the match goes back to the whole files."""
        with self._lock:
            for s in SLOTS if slot is None else (slot,):
                self._check_slot(s)
                src = self._sources[s]
                if src is not None:
                    src.loop, src.loop_lufs = None, None
            self._match_loudness()

    def loop(self, slot: str) -> tuple[float, float] | None:
        """The loop of ``slot`` in seconds, or None."""
        self._check_slot(slot)
        src = self._sources[slot]
        if src is None or src.loop is None:
            return None
        return src.loop[0] / src.samplerate, src.loop[1] / src.samplerate

    def source(self, slot: str) -> Source | None:
        return self._sources[slot]

    def has_source(self, slot: str) -> bool:
        return self._sources[slot] is not None

    # -- A/B ----------------------------------------------------------------------------------------
    @property
    def active(self) -> str:
        return self._active

    def select(self, slot: str) -> None:
        """Make ``slot`` active at the same relative position as the current one."""
        self._check_slot(slot)
        with self._lock:
            if slot == self._active:
                return
            cur, new = self._sources[self._active], self._sources[slot]
            self._active = slot
            self._pos = self._mapped_position(cur, new)
            if new is None:
                self._playing = False
            self._finished = False

    def _mapped_position(self, cur: Source | None, new: Source | None) -> int:
        """Where switching from ``cur`` (at the current position) to ``new`` lands: the same place inside
        the loops when both loop, the loop start plus the offset into ``cur``'s loop (or 0) when only
        ``new`` loops, else the same relative position in the song."""
        if new is None:
            return 0
        pos = self._pos
        if new.loop is not None:
            a, b = new.loop
            if cur is not None and cur.loop is not None and cur.loop[0] <= pos < cur.loop[1]:
                ca, cb = cur.loop
                frac = (pos - ca) / max(1, cb - ca)
                return min(b - 1, a + int(round(frac * (b - a))))
            return a
        frac = pos / cur.frames if cur is not None and cur.frames else 0.0
        return min(int(round(frac * new.frames)), max(0, new.frames - 1))

    def toggle_ab(self) -> str:
        """Switch between A and B (only when both are loaded); returns the active slot."""
        other = "B" if self._active == "A" else "A"
        if self._sources[other] is not None:
            self.select(other)
        return self._active

    # -- transport ----------------------------------------------------------------------------------
    def play(self, slot: str | None = None) -> None:
        if slot is not None:
            self.select(slot)
        with self._lock:
            src = self._sources[self._active]
            if src is None:
                return
            if self._pos >= src.frames - 1:
                self._pos = src.loop[0] if src.loop is not None else 0
            self._finished = False
            self._playing = True
        self._ensure_stream()

    def try_play(self, slot: str | None = None) -> str | None:
        """``play``, but a stream that fails to start comes back as a message for the user (None = playing)."""
        try:
            self.play(slot)
        except PlaybackUnavailable as exc:
            return f"Could not play: {exc}"
        return None

    def pause(self) -> None:
        with self._lock:
            self._playing = False

    def toggle(self) -> bool:
        if self._playing:
            self.pause()
        else:
            self.play()
        return self._playing

    def stop(self) -> None:
        """Stop; the position goes back to the loop's start (or the file's)."""
        with self._lock:
            self._playing = False
            src = self._sources[self._active]
            self._pos = src.loop[0] if src is not None and src.loop is not None else 0

    def seek(self, seconds: float) -> None:
        with self._lock:
            src = self._sources[self._active]
            if src is None:
                return
            self._pos = int(np.clip(round(seconds * src.samplerate), 0, max(0, src.frames - 1)))
            self._finished = False

    def seek_fraction(self, fraction: float) -> None:
        src = self._sources[self._active]
        if src is not None:
            self.seek(float(np.clip(fraction, 0.0, 1.0)) * src.duration)

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def finished(self) -> bool:
        """True once the active source played to its end (cleared by play/seek/select)."""
        return self._finished

    @property
    def position(self) -> float:
        src = self._sources[self._active]
        return self._pos / src.samplerate if src is not None else 0.0

    @property
    def duration(self) -> float:
        src = self._sources[self._active]
        return src.duration if src is not None else 0.0

    @property
    def fraction(self) -> float:
        src = self._sources[self._active]
        return self._pos / src.frames if src is not None and src.frames else 0.0

    def close(self) -> None:
        with self._lock:
            self._playing = False
            stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    # -- audio thread -------------------------------------------------------------------------------
    def _ensure_stream(self) -> None:
        """Open and start the stream on the first play; on failure stop playing, close what was opened
        and raise PlaybackUnavailable (the device went away, is busy, or refuses the format)."""
        if self._stream is None:
            stream = None
            try:
                stream = self._factory(self.samplerate, self.channels, self.blocksize, self._callback)
                stream.start()
            except Exception as exc:  # PortAudioError and friends
                with self._lock:
                    self._playing = False
                if stream is not None:
                    try:
                        stream.close()
                    except Exception:  # noqa: BLE001 - already failing; report the first error
                        pass
                raise PlaybackUnavailable(f"could not start audio output: {exc}") from exc
            self._stream = stream

    def _callback(self, outdata, frames, time_info, status) -> None:  # noqa: ARG002 - PortAudio signature
        """Copy ``frames`` frames of the active source (scaled by its gain) into ``outdata``, wrapping
        at the end of its loop (a position before the loop plays into it; one after it plays on)."""
        with self._lock:
            src = self._sources[self._active]
            if not self._playing or src is None:
                outdata.fill(0.0)
                return
            pos, done = self._pos, 0
            loop = src.loop
            gain = src.gain
            while done < frames:
                limit = loop[1] if loop is not None and pos < loop[1] else src.frames
                n = max(0, min(frames - done, limit - pos))
                if n:
                    np.multiply(src.buffer[pos:pos + n], gain, out=outdata[done:done + n])
                    np.clip(outdata[done:done + n], -1.0, 1.0, out=outdata[done:done + n])
                    pos += n
                    done += n
                if loop is not None and pos == loop[1]:
                    pos = loop[0]  # wrap now, so the position never reads as the loop's end
                    continue
                if done < frames:
                    outdata[done:].fill(0.0)
                    self._playing = False
                    self._finished = True
                    break
            self._pos = pos

    @staticmethod
    def _check_slot(slot: str) -> None:
        if slot not in SLOTS:
            raise ValueError(f"slot must be one of {SLOTS}, not {slot!r}")
