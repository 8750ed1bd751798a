"""The demo server for real: uvicorn on 127.0.0.1, an HTTP client, and headless Chromium."""

import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from src.decoding import ArgmaxDecoder
from src.trainer.restore import load_trained_model
from src.transcription import Transcriber
from tests.conftest import REPO_ROOT
from tests.tiny_model import save_tiny_checkpoint

pytestmark = pytest.mark.slow
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    """Eight seconds of real speech as a 16 kHz wav."""
    shared = REPO_ROOT.parent / "shared" / "data" / "LibriSpeech"
    if not shared.is_dir():
        pytest.skip(f"real speech data not found at {shared} (present in CI)")
    audio, rate = sf.read(sorted(shared.rglob("*.flac"))[0])
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    sf.write(path, audio[: 8 * rate], rate)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`python -m src.serve` on a free port, with small limits to test them."""
    checkpoint = save_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pth")
    port = free_port()
    command = [sys.executable, "-m", "src.serve", f"model={checkpoint}", f"port={port}"]
    command += ["max_seconds=20", "max_upload_mb=1"]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the server did not start: {process.communicate()[1][-2000:]}")
        time.sleep(0.5)
    yield url, checkpoint
    process.terminate()
    process.wait(timeout=30)


def expected_text(checkpoint: Path, path: Path) -> str:
    trained = load_trained_model(checkpoint)
    return Transcriber(trained, ArgmaxDecoder(trained.text_encoder)).transcribe_file(path).text


def post(url: str, name: str, content: bytes) -> httpx.Response:
    return httpx.post(f"{url}/api/transcribe", files={"file": (name, content)}, timeout=120)


def test_the_api_transcribes_with_word_timings(server, speech):
    url, checkpoint = server
    response = post(url, "speech.wav", speech.read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["file"] == "speech.wav" and body["duration"] == pytest.approx(8.0)
    assert body["text"] == expected_text(checkpoint, speech)
    assert [word["word"] for word in body["words"]] == body["text"].split()
    assert all(0 <= w["start"] < w["end"] <= 8.0 for w in body["words"])
    schema = httpx.get(f"{url}/openapi.json").json()
    assert "/api/transcribe" in schema["paths"]


def wav_bytes(seconds: float) -> bytes:
    buffer = io.BytesIO()
    noise = np.random.default_rng(0).normal(scale=0.1, size=int(16000 * seconds))
    sf.write(buffer, noise, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "status", "message"),
    [
        ("notes.txt", b"this is not audio", 400, "'notes.txt' is not audio"),
        ("empty.wav", b"", 400, "'empty.wav' is empty"),
        ("long.wav", wav_bytes(25.0), 413, "'long.wav' is 25 s long"),
        ("big.raw", b"\0" * (2 << 20), 413, "larger than 1048576 bytes"),
        ("silence.wav", wav_bytes(0.0), 400, "holds no audio samples"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(server, name, content, status, message):
    response = post(server[0], name, content)
    assert response.status_code == status
    assert message in response.json()["detail"]


def test_a_request_without_a_file_is_a_422(server):
    response = httpx.post(f"{server[0]}/api/transcribe", timeout=30)
    assert response.status_code == 422


@pytest.fixture
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromium-driver are not installed (make test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="chromium-")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_the_page_uploads_a_file_and_highlights_words_as_it_plays(server, speech, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, checkpoint = server
    browser.get(url)
    browser.find_element(By.ID, "file").send_keys(str(speech))
    browser.find_element(By.ID, "transcribe").click()
    wait = WebDriverWait(browser, 120)
    wait.until(
        lambda driver: driver.find_element(By.ID, "status").text.startswith(("Done", "Error"))
    )
    assert browser.find_element(By.ID, "status").text.startswith("Done")
    words = browser.find_elements(By.CSS_SELECTOR, "#transcript .word")
    assert " ".join(word.text for word in words) == expected_text(checkpoint, speech)
    middle = words[len(words) // 2]
    start, end = float(middle.get_attribute("data-start")), float(middle.get_attribute("data-end"))
    browser.execute_script(
        "const p = document.getElementById('player'); p.muted = true;"
        "p.addEventListener('loadedmetadata', () => { p.currentTime = arguments[0]; });"
        "if (p.readyState > 0) p.currentTime = arguments[0];",
        (start + end) / 2,
    )
    wait.until(lambda _: "active" in middle.get_attribute("class"))
    active = browser.find_elements(By.CSS_SELECTOR, "#transcript .word.active")
    assert active == [middle]


def test_the_page_shows_the_servers_message_for_a_bad_upload(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    bad = tmp_path / "photo.wav"
    bad.write_bytes(os.urandom(4000))
    browser.get(server[0])
    browser.find_element(By.ID, "file").send_keys(str(bad))
    browser.find_element(By.ID, "transcribe").click()
    status = browser.find_element(By.ID, "status")
    WebDriverWait(browser, 60).until(lambda _: status.text.startswith("Error"))
    assert "Error 400" in status.text and "'photo.wav' is not audio" in status.text
