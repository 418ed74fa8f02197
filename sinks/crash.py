"""Named crash points, for tests only: prove that a death anywhere loses nothing.

Set STREAM_CDC_CRASH_AT to a point name (e.g. `lake.after_staging`) and the
process dies there with SIGKILL; with STREAM_CDC_CRASH_MODE=raise it raises
SimulatedCrashError instead, so an in-process test can play the restarted process.
"""

import os
import signal


class SimulatedCrashError(RuntimeError):
    """Raised at a crash point when STREAM_CDC_CRASH_MODE=raise."""


def crash_point(name: str) -> None:
    wanted = os.environ.get("STREAM_CDC_CRASH_AT", "")
    if name not in {w.strip() for w in wanted.split(",") if w.strip()}:
        return
    if os.environ.get("STREAM_CDC_CRASH_MODE") == "raise":
        raise SimulatedCrashError(name)
    os.kill(os.getpid(), signal.SIGKILL)
