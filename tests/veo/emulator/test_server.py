import threading

from jobs.veo.emulator import Emulator


def test_wait_blocks_while_the_emulator_serves_and_returns_once_it_stops():
    emulator = Emulator(latency=0).start()
    try:
        assert emulator.serving
        assert emulator.wait(timeout=0.1) is False

        threading.Timer(0.1, emulator.stop).start()

        assert emulator.wait(timeout=10) is True
        assert not emulator.serving
    finally:
        emulator.stop()


def test_wait_on_an_emulator_never_started_returns_at_once():
    assert Emulator(latency=0).wait(timeout=5) is True
