"""Stop requests: a first SIGINT/SIGTERM is a flag checked at safe points, a second aborts."""

import os
import signal
import threading

import pytest

from src.trainer.signals import StopRequests, TrainingInterrupted


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_first_signal_is_a_request_the_second_an_abort(signum, exit_code):
    previous = signal.getsignal(signum)
    with StopRequests() as stop:
        stop.check()  # nothing yet
        os.kill(os.getpid(), signum)
        assert stop.received == signum  # handled, nothing raised: the work goes on
        with pytest.raises(TrainingInterrupted) as interrupted:
            stop.check()
        assert interrupted.value.exit_code == exit_code
        with pytest.raises(KeyboardInterrupt, match="aborting, nothing saved"):
            os.kill(os.getpid(), signum)
    assert signal.getsignal(signum) is previous


def test_a_fetch_that_fails_after_a_request_is_the_stop():
    """Loader workers end on SIGTERM too: waiting on them then fails, and that is the stop."""
    with StopRequests() as stop:
        with pytest.raises(RuntimeError, match="worker"), stop.fetching():
            raise RuntimeError("DataLoader worker exited unexpectedly")
        os.kill(os.getpid(), signal.SIGTERM)
        with pytest.raises(TrainingInterrupted) as interrupted, stop.fetching():
            raise RuntimeError("DataLoader worker exited unexpectedly")
        assert isinstance(interrupted.value.__cause__, RuntimeError)


def test_until_stopped_checks_before_each_item():
    with StopRequests() as stop:
        seen = []
        with pytest.raises(TrainingInterrupted):
            for item in stop.until_stopped(range(5)):
                seen.append(item)
                if item == 1:
                    os.kill(os.getpid(), signal.SIGINT)
        assert seen == [0, 1]
        assert list(StopRequests().until_stopped(range(3))) == [0, 1, 2]


def test_outside_the_main_thread_no_handler_is_installed():
    previous = signal.getsignal(signal.SIGINT)
    installed = []

    def run():
        with StopRequests():
            installed.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert installed == [previous]
