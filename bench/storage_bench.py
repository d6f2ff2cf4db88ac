"""Every storage benchmark in one run (``make bench``): SQLite, etcd beside raw etcd, the cache.

Each part can also run alone: ``python -m bench.sqlite_bench``, ``python -m bench.etcd_bench``,
``python -m bench.cache_bench``. The etcd part needs the etcd binary (Debian etcd-server) and is
skipped with a note when it is missing. Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import tempfile
from pathlib import Path

from bench import cache_bench, etcd_bench, sqlite_bench
from pocketkube.tuning import tune_gc


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each write cell")
    args = parser.parse_args()
    tune_gc()  # as every pocketkube server process does
    print(f"python {platform.python_version()} on {platform.machine()}\n")
    print("== SQLite ==")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        asyncio.run(sqlite_bench.run(directory=Path(tmp), seconds=args.seconds))
    print("\n== etcd ==")
    if shutil.which("etcd") is None:
        print("skipped: etcd is not installed (apt-get install etcd-server)")
    else:
        etcd_bench.run(seconds=args.seconds)
    print("\n== watch cache ==")
    asyncio.run(cache_bench.run(objects=10_000, runs=50, watchers=100, events=2_000))
    print("\n== API server ==")
    from bench import apiserver_bench

    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        asyncio.run(apiserver_bench.run(directory=Path(tmp), seconds=max(args.seconds, 5.0)))


if __name__ == "__main__":
    main()
