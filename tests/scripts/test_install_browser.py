"""The browser test's Chromium: found when installed, the apt command printed otherwise."""

import shutil

from scripts import install_browser
from src.lm import tools


def test_installed_programs_are_reported(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda program: f"/usr/bin/{program}")
    install_browser.main()
    assert capsys.readouterr().out.splitlines() == [
        "chromium: /usr/bin/chromium",
        "chromedriver: /usr/bin/chromedriver",
    ]


def test_without_root_the_apt_command_is_printed_not_fatal(monkeypatch, capsys):
    monkeypatch.setattr(shutil, "which", lambda program: None)
    monkeypatch.setattr(install_browser, "missing_packages", lambda packages: list(packages))
    monkeypatch.setattr(tools.os, "geteuid", lambda: 1000)
    install_browser.main()
    error = capsys.readouterr().err
    assert "the browser test needs these Debian packages" in error
    assert "sudo apt-get install -y --no-install-recommends chromium chromium-driver" in error
    assert "make browser" in error
