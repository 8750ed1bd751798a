"""A transcript as plain text, JSON, SRT or WebVTT subtitles."""

import json
from collections.abc import Callable

from src.decoding.timestamps import WordTiming
from src.transcription.transcriber import Transcript

MAX_CUE_CHARS = 42  # a common subtitle line length
MAX_CUE_SECONDS = 6.0
MAX_CUE_GAP = 1.0  # a pause this long starts a new cue


def subtitle_cues(words: list[WordTiming]) -> list[tuple[float, float, str]]:
    """Words grouped into (start, end, text) cues of at most `MAX_CUE_CHARS` characters and
    `MAX_CUE_SECONDS`, broken at pauses of `MAX_CUE_GAP`."""
    cues: list[list[WordTiming]] = []
    for word in words:
        if cues:
            cue = cues[-1]
            text_length = sum(len(w.word) + 1 for w in cue) + len(word.word)
            if (
                text_length <= MAX_CUE_CHARS
                and word.end - cue[0].start <= MAX_CUE_SECONDS
                and word.start - cue[-1].end <= MAX_CUE_GAP
            ):
                cue.append(word)
                continue
        cues.append([word])
    return [(cue[0].start, cue[-1].end, " ".join(w.word for w in cue)) for cue in cues]


def _timestamp(seconds: float, separator: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, milliseconds = divmod(milliseconds, 3_600_000)
    minutes, milliseconds = divmod(milliseconds, 60_000)
    seconds, milliseconds = divmod(milliseconds, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{milliseconds:03d}"


def to_txt(transcript: Transcript) -> str:
    return transcript.text + "\n"


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n"


def to_srt(transcript: Transcript) -> str:
    blocks = [
        f"{index}\n{_timestamp(start, ',')} --> {_timestamp(end, ',')}\n{text}\n"
        for index, (start, end, text) in enumerate(subtitle_cues(transcript.words), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    blocks = [
        f"{_timestamp(start, '.')} --> {_timestamp(end, '.')}\n{text}\n"
        for start, end, text in subtitle_cues(transcript.words)
    ]
    return "\n".join(["WEBVTT\n", *blocks])


FORMATS: dict[str, Callable[[Transcript], str]] = {
    "txt": to_txt,
    "json": to_json,
    "srt": to_srt,
    "vtt": to_vtt,
}
