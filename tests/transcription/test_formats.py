"""Transcripts as txt, json, SRT and WebVTT."""

import json

from src.decoding.timestamps import WordTiming
from src.transcription import Transcript
from src.transcription.formats import FORMATS, subtitle_cues

WORDS = [
    WordTiming("hello", 0.5, 0.9, 0.9),
    WordTiming("world", 1.0, 1.4, 0.8),
    WordTiming("after", 3.0, 3.5, 0.7),  # a pause of 1.6 s: a new cue
    WordTiming("the", 3.6, 3.7, 0.9),
    WordTiming("pause", 3751.2, 3751.9, 0.6),  # past an hour
]
TRANSCRIPT = Transcript("hello world after the pause", WORDS, 3752.0, source="talk.wav")


def test_cues_break_at_pauses_length_and_duration():
    assert subtitle_cues(WORDS) == [
        (0.5, 1.4, "hello world"),
        (3.0, 3.7, "after the"),
        (3751.2, 3751.9, "pause"),
    ]
    many = [WordTiming("word", 0.5 * i, 0.5 * i + 0.4, 1.0) for i in range(40)]
    cues = subtitle_cues(many)
    assert all(len(text) <= 42 and end - start <= 6.0 for start, end, text in cues)
    assert " ".join(text for _, _, text in cues) == " ".join(["word"] * 40)


def test_srt_and_vtt_layout():
    srt = FORMATS["srt"](TRANSCRIPT)
    assert srt.startswith("1\n00:00:00,500 --> 00:00:01,400\nhello world\n\n2\n")
    assert "3\n01:02:31,200 --> 01:02:31,900\npause\n" in srt
    vtt = FORMATS["vtt"](TRANSCRIPT)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.400\nhello world\n")


def test_txt_and_json():
    assert FORMATS["txt"](TRANSCRIPT) == "hello world after the pause\n"
    record = json.loads(FORMATS["json"](TRANSCRIPT))
    assert record["file"] == "talk.wav" and record["duration"] == 3752.0
    assert record["words"][0] == {"word": "hello", "start": 0.5, "end": 0.9, "confidence": 0.9}
