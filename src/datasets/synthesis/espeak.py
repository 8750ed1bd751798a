"""A minimal ctypes binding to libespeak-ng (from the `espeakng-loader` wheel), synchronous mode.

libespeak-ng keeps part of its synthesis state in C globals (the pitch-flutter phase, the gain
control, ...) that neither `espeak_Terminate` nor re-initialisation reset, so the same text
renders slightly differently depending on what was spoken before. Each `ESpeakSynthesizer`
therefore loads a private copy of the library: instances are independent, and a fresh instance
renders a given text, voice and seed to the same samples every time.
"""

import _ctypes
import ctypes
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np

AUDIO_OUTPUT_SYNCHRONOUS = 2
INITIALIZE_DONT_EXIT = 0x8000
CHARS_UTF8 = 1
POS_CHARACTER = 1
EE_OK = 0
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
PARAMETERS = {"rate": 1, "pitch": 3, "range": 4}  # espeak_PARAMETER values
PARAMETER_LIMITS = {"rate": (80, 450), "pitch": (0, 99), "range": (0, 99)}


class _EventId(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8))


class Event(ctypes.Structure):
    """speak_lib.h's espeak_EVENT; `sample` is the event's position in samples of the output."""

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    )


SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event)
)


class ESpeakError(RuntimeError):
    """libespeak-ng could not be loaded or initialised, or failed to synthesise."""


def default_paths() -> tuple[Path, Path]:
    """The shared library and the espeak-ng-data folder shipped by `espeakng-loader`."""
    try:
        import espeakng_loader
    except ImportError as error:
        raise ESpeakError(
            "the espeakng-loader package is missing (pip install espeakng-loader)"
        ) from error
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def _load_private_copy(library: Path) -> ctypes.CDLL:
    """dlopen a fresh copy of `library`, so that it gets its own global state."""
    if not library.is_file():
        raise ESpeakError(f"libespeak-ng not found at {library}")
    with tempfile.TemporaryDirectory(prefix="espeak-") as folder:
        copy = Path(folder) / library.name
        shutil.copyfile(library, copy)
        try:
            return ctypes.CDLL(str(copy))  # the mapping outlives the deleted file
        except OSError as error:
            raise ESpeakError(f"cannot load libespeak-ng from {library}: {error}") from error


def _declare(lib: ctypes.CDLL) -> None:
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,  # text
        ctypes.c_size_t,  # size in bytes, with the terminating NUL
        ctypes.c_uint,  # position
        ctypes.c_int,  # position type
        ctypes.c_uint,  # end position
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique identifier (out)
        ctypes.c_void_p,  # user data
    ]


class ESpeakSynthesizer:
    """Text to a float32 waveform at `sample_rate` (22050 Hz) with one private eSpeak NG engine.

    Use as a context manager, or call `close()`, to unload the engine.
    """

    def __init__(self, library: Path | None = None, data: Path | None = None) -> None:
        if library is None or data is None:
            default_library, default_data = default_paths()
            library, data = library or default_library, data or default_data
        self.data = Path(data)
        if not (self.data / "phontab").is_file():
            raise ESpeakError(f"no espeak-ng-data at {self.data}")
        self._lib = _load_private_copy(Path(library))
        _declare(self._lib)
        rate = self._lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data).encode(), INITIALIZE_DONT_EXIT
        )
        if rate <= 0:
            _ctypes.dlclose(self._lib._handle)
            raise ESpeakError(f"espeak_Initialize failed (status {rate}) with data at {self.data}")
        self.sample_rate: int = rate
        self._chunks: list[bytes] = []
        # the last `synthesize`'s word events: (character index in the text, output sample)
        self.word_events: list[tuple[int, int]] = []
        self._callback = SynthCallback(self._collect)  # keep a reference while the C side has it
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(
        self,
        samples: "ctypes._Pointer[ctypes.c_short]",
        count: int,
        events: "ctypes._Pointer[Event]",
    ) -> int:
        if count > 0:
            self._chunks.append(ctypes.string_at(samples, count * 2))
        index = 0
        while events and events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == EVENT_WORD:  # text_position counts characters from 1
                self.word_events.append((event.text_position - 1, event.sample))
            index += 1
        return 0  # continue synthesis

    def set_voice(self, name: str, rate: int = 175, pitch: int = 50, pitch_range: int = 50) -> None:
        """Select a voice such as "en-us" or "en-us+m3" (language + variant from voices/!v).

        `rate` is in words per minute, `pitch` and `pitch_range` in 0..99 (50 is the voice's own).
        """
        values = {"rate": rate, "pitch": pitch, "range": pitch_range}
        for parameter, value in values.items():
            low, high = PARAMETER_LIMITS[parameter]
            if not low <= value <= high:
                raise ValueError(f"eSpeak {parameter} must be in [{low}, {high}], got {value}")
        language, _, variant = name.partition("+")
        if variant and not (self.data / "voices" / "!v" / variant).is_file():
            raise ValueError(f"unknown eSpeak voice variant {variant!r} in {name!r}")
        if self._lib.espeak_SetVoiceByName(name.encode()) != EE_OK:
            raise ValueError(f"unknown eSpeak voice {language!r} in {name!r}")
        for parameter, value in values.items():
            self._lib.espeak_SetParameter(PARAMETERS[parameter], value, 0)

    def synthesize(self, text: str, seed: int = 0) -> np.ndarray:
        """Speak `text` with the current voice; `seed` drives eSpeak's noise (breath, ...).

        Afterwards `word_events` holds eSpeak's word events: where a word starts in the text
        (character index) and in the result (sample). eSpeak speaks some unstressed words
        together with their neighbour ("in the", "there were") and reports one event for both.
        """
        self._chunks.clear()
        self.word_events = []
        self._lib.espeak_ng_SetRandSeed(seed)
        encoded = text.encode()
        status = self._lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, POS_CHARACTER, 0, CHARS_UTF8, None, None
        )
        if status != EE_OK:
            raise ESpeakError(f"espeak_Synth failed (status {status}) for {text!r}")
        samples = np.frombuffer(b"".join(self._chunks), dtype=np.int16)
        return samples.astype(np.float32) / 32768.0

    def close(self) -> None:
        """Terminate the engine and unload its private library copy."""
        if self._lib is not None:
            self._lib.espeak_Terminate()
            _ctypes.dlclose(self._lib._handle)
            self._lib = None

    def __enter__(self) -> "ESpeakSynthesizer":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
