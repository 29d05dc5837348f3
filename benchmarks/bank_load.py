"""Load time and peak memory of a 100,000-task YAML bank.

    python benchmarks/bank_load.py            # 100,000 tasks
    python benchmarks/bank_load.py 20000      # another size

Writes a bank in the shape of the shipped ``tasks.yaml`` (every fourth task with a checker)
into a temporary directory, loads it once with ``environments.banks.load_tasks`` in a fresh
child process, and prints the file size, load time and the child's peak resident memory. The
loader logs its progress at INFO level; this script shows those lines.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import logging, resource, sys, time
logging.basicConfig(level=logging.INFO, format="  log: %(message)s")
from environments.banks import load_tasks
start = time.perf_counter()
tasks = load_tasks(sys.argv[1])
elapsed = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{len(tasks)} tasks loaded in {elapsed:.2f} s, peak RSS {peak_mb:.0f} MB")
"""


def write_bank(path: Path, count: int) -> None:
    """Write a valid YAML bank of ``count`` tasks to ``path``."""
    with path.open("w", encoding="utf-8") as out:
        out.write("version: 1\ntasks:\n")
        for i in range(count):
            out.write(
                f"  - id: t-{i:06d}\n"
                f"    title: Task number {i}\n"
                f'    prompt: "Add up the numbers 1 to {i % 97 + 3} and give the total: what is '
                f'it? Show your working, then the total."\n'
                f"    category: cat-{i % 6}\n"
                f"    pay: {i % 10 + 1}\n"
                f"    effort: 1.5\n"
                f"    aversiveness: 0.{i % 10}\n"
            )
            if i % 4 == 0:
                n = i % 97 + 3
                out.write(f"    checker: {{type: number, answer: {n * (n + 1) // 2}}}\n")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        bank = Path(tmp) / "big.yaml"
        write_bank(bank, count)
        print(f"bank of {count} tasks: {bank.stat().st_size / 1e6:.1f} MB")
        subprocess.run([sys.executable, "-c", _CHILD, str(bank)], check=True)


if __name__ == "__main__":
    main()
