"""The tree a before/after benchmark runs as "before": ``app`` and ``config`` of a commit,
exported with ``git archive`` into a temporary folder, beside a copy of this benchmark
package (so both sides are driven by the same benchmark code)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def export_baseline(ref: str, prefix: str = "bench-baseline-") -> Path | None:
    """Export ``ref``'s ``app`` and ``config`` plus ``benchmarks/`` into a new temporary
    folder and return it; None when git or the commit is not available."""
    if shutil.which("git") is None:
        return None
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "app", "config"],
                             capture_output=True)
    if archive.returncode != 0:
        return None
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    shutil.copytree(ROOT / "benchmarks", folder / "benchmarks")
    return folder
