"""Run the Veo emulator: ``python -m jobs.veo.emulator --port 8765 --latency 4``."""

from .server import main

main()
