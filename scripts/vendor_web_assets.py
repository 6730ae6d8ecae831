"""Vendor the browser assets Worldgate serves (htmx, Swagger UI, ReDoc, Elements) from npm.

Run by hand when upgrading one of them (needs ``npm`` and the registry; nothing at run time
does): ``python scripts/vendor_web_assets.py``. For each package it runs ``npm pack
NAME@VERSION`` in a temporary folder, checks the tarball against the registry's integrity
hash, copies the listed files (and the package's licence) into the app, and writes
``vendor.json`` beside them: package, version, licence, tarball integrity and the sha256 of
every copied file. ``tests/web/test_vendored_assets.py`` checks the files against it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (destination folder, npm package, version, {file inside the package: name in the folder})
PACKAGES: list[tuple[Path, str, str, dict[str, str]]] = [
    (ROOT / "app/console/static/vendor/htmx", "htmx.org", "2.0.11", {
        "dist/htmx.min.js": "htmx.min.js",
        "LICENSE": "LICENSE",
    }),
    (ROOT / "app/web/openapi_ui/swagger-ui", "swagger-ui-dist", "5.35.0", {
        "swagger-ui-bundle.js": "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.LICENSE.txt": "swagger-ui-bundle.js.LICENSE.txt",
        "swagger-ui-standalone-preset.js": "swagger-ui-standalone-preset.js",
        "swagger-ui-standalone-preset.js.LICENSE.txt":
            "swagger-ui-standalone-preset.js.LICENSE.txt",
        "swagger-ui.css": "swagger-ui.css",
        "LICENSE": "LICENSE",
        "NOTICE": "NOTICE",
    }),
    (ROOT / "app/web/openapi_ui/redoc", "redoc", "2.5.4", {
        "bundles/redoc.standalone.js": "redoc.standalone.js",
        "bundles/redoc.standalone.js.LICENSE.txt": "redoc.standalone.js.LICENSE.txt",
        "LICENSE": "LICENSE",
    }),
    (ROOT / "app/web/openapi_ui/elements", "@stoplight/elements", "9.0.25", {
        "web-components.min.js": "web-components.min.js",
        "web-components.min.js.LICENSE.txt": "web-components.min.js.LICENSE.txt",
        "styles.min.css": "styles.min.css",
        "LICENSE": "LICENSE",
    }),
]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npm(*args: str, cwd: Path) -> str:
    return subprocess.run(["npm", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def vendor(dest: Path, name: str, version: str, files: dict[str, str], work: Path) -> None:
    """Fetch one package with ``npm pack`` and copy its files and manifest to ``dest``."""
    spec = f"{name}@{version}"
    info = json.loads(_npm("view", spec, "dist", "license", "--json", cwd=work))
    tarball = work / _npm("pack", spec, "--silent", cwd=work).splitlines()[-1]
    algo, _, want = info["dist"]["integrity"].partition("-")
    got = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
    if got != want:
        sys.exit(f"{spec}: tarball integrity mismatch")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    copied = {}
    with tarfile.open(tarball) as archive:
        for inner, target in files.items():
            member = archive.extractfile(f"package/{inner}")
            if member is None:
                sys.exit(f"{spec}: {inner} is not a file")
            data = member.read()
            (dest / target).write_bytes(data)
            copied[target] = _sha256(data)
    manifest = {"package": name, "version": version, "license": info["license"],
                "integrity": info["dist"]["integrity"], "files": copied}
    (dest / "vendor.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"{spec}: {len(copied)} files → {dest.relative_to(ROOT)}")


def main() -> None:
    """Vendor every package in ``PACKAGES``."""
    with tempfile.TemporaryDirectory() as tmp:
        for dest, name, version, files in PACKAGES:
            vendor(dest, name, version, files, Path(tmp))


if __name__ == "__main__":
    main()
