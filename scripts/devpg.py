"""`make pg` / `make pg-stop`: the throwaway PostgreSQL the Meltano `dev` environment loads into.

One cluster on 127.0.0.1, trusting local connections (any password works; target-postgres
insists on one). `meltano.yml` points `dev`'s target-postgres at its port. Its data lives in the
temp dir, not the checkout: as root the server runs as `postgres`, which cannot enter a clone
under /root.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/pg.py runs the test clusters too: one way to start one

from tests.pg import PgCluster, server_bindir  # noqa: E402

# The port meltano.yml's dev environment names; below the ephemeral range (32768+), so no
# client connection can be holding it.
PORT = int(os.environ.get("DEV_PG_PORT", "15432"))
DIRECTORY = Path(tempfile.gettempdir()) / f"tap-pinterest-ads-pg-{PORT}"


def main() -> None:
    action = sys.argv[1] if len(sys.argv) > 1 else "start"
    bindir = server_bindir()
    if bindir is None:
        raise SystemExit(
            "make pg: PostgreSQL server binaries (initdb, pg_ctl) not found; install them "
            "(Debian: apt-get install postgresql) or point target-postgres at your own server "
            "(TARGET_POSTGRES_HOST, _PORT, _USER, _PASSWORD, _DATABASE)"
        )
    cluster = PgCluster(bindir, directory=DIRECTORY, port=PORT)
    if action == "stop":
        cluster.stop()
        print(f"PostgreSQL on 127.0.0.1:{PORT} stopped; {DIRECTORY} removed")
        return
    try:
        address = cluster.start()
    except RuntimeError as error:
        said = [line for line in str(error).splitlines() if line.strip()]
        why = [line for line in said if "FATAL" in line or "ERROR" in line] or said[1:3]
        raise SystemExit(f"make pg: {said[0]} {' '.join(why[:2])}") from None
    print(
        f"PostgreSQL on {address.host}:{address.port} (user postgres, database postgres, any "
        f"password), data in {DIRECTORY}; `make pg-stop` removes it"
    )


if __name__ == "__main__":
    main()
