"""Write the diagrams to docs/img/diagrams/ (or, with --check, say which differ)."""

from __future__ import annotations

import argparse
import sys

from scripts.diagrams import OUT, render_all


def main() -> int:
    """Write or check every diagram; exit 1 when ``--check`` finds a stale or missing file."""
    parser = argparse.ArgumentParser(prog="python -m scripts.diagrams", description=__doc__)
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if a committed diagram differs")
    args = parser.parse_args()
    drawn = render_all()
    stale = [name for name, svg in drawn.items()
             if not (OUT / name).exists() or (OUT / name).read_text() != svg]
    extra = sorted(p.name for p in OUT.glob("*.svg") if p.name not in drawn) if OUT.exists() else []
    if args.check:
        for name in stale:
            print(f"stale: docs/img/diagrams/{name}")
        for name in extra:
            print(f"not drawn by any figure: docs/img/diagrams/{name}")
        return 1 if stale or extra else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for name in stale:
        (OUT / name).write_text(drawn[name])
        print(f"wrote docs/img/diagrams/{name}")
    for name in extra:
        (OUT / name).unlink()
        print(f"removed docs/img/diagrams/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
