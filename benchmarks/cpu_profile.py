"""Run a module under cProfile timed by CPU, not wall, time (waiting on a socket costs nothing).

python -m benchmarks.cpu_profile OUT.prof MODULE [ARGS...]
"""

from __future__ import annotations

import cProfile
import runpy
import sys
import time


def main() -> None:
    out, module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    profiler = cProfile.Profile(time.process_time)
    try:
        profiler.runcall(runpy.run_module, module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        if exit_.code:
            raise
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
