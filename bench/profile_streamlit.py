"""`python -m streamlit ...` under cProfile in every thread, for bench/browser.py --profile.

  python bench/profile_streamlit.py OUT.prof run app.py [streamlit flags]

`python -m cProfile -m streamlit run` sees only the main thread (the server's event loop), not the script runs,
which Streamlit does in threads of their own; here each thread gets its own profiler and all of them are merged
into OUT.prof when Streamlit stops (SIGTERM ends it cleanly).
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import sys
import threading

PROFILES: list[cProfile.Profile] = []
_LOCK = threading.Lock()
_thread_run = threading.Thread.run


def _profiled_run(self: threading.Thread) -> None:
    profile = cProfile.Profile()
    with _LOCK:
        PROFILES.append(profile)
    profile.enable()
    try:
        _thread_run(self)
    finally:
        profile.disable()


def write(out: str) -> None:
    with _LOCK:
        profiles = list(PROFILES)
    merged: pstats.Stats | None = None
    for profile in profiles:
        profile.create_stats()
        if not profile.stats:  # type: ignore[attr-defined]
            continue
        if merged is None:
            merged = pstats.Stats(profile)
        else:
            merged.add(profile)
    if merged is not None:
        merged.dump_stats(out)


def main() -> None:
    out = sys.argv[1]
    sys.argv = ["streamlit", *sys.argv[2:]]
    threading.Thread.run = _profiled_run  # type: ignore[method-assign]
    main_thread = cProfile.Profile()
    PROFILES.append(main_thread)
    main_thread.enable()
    try:
        runpy.run_module("streamlit", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    finally:
        main_thread.disable()
        write(out)


if __name__ == "__main__":
    main()
