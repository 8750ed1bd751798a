"""Debian's Chromium and its WebDriver for the browser test of the web demo (`make browser`,
run by `make test`): installed with apt-get when missing and run as root; otherwise the
command to run is printed and the browser test skips with that reason."""

import logging
import shutil
import sys

from src.lm.tools import ToolError, install_packages, missing_packages

PACKAGES = ("chromium", "chromium-driver")
PROGRAMS = ("chromium", "chromedriver")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not all(shutil.which(program) for program in PROGRAMS):
        try:
            install_packages(missing_packages(PACKAGES), "the browser test", "browser")
        except ToolError as error:
            print(f"warning: {error}", file=sys.stderr)
            return
    for program in PROGRAMS:
        print(f"{program}: {shutil.which(program)}")


if __name__ == "__main__":
    main()
