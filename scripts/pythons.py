"""`make pythons`: the tap on every Python version pyproject.toml claims, installed as users do.

For each `Programming Language :: Python :: 3.X` classifier, with the newest 3.X under
~/.pyenv/versions (or `python3.X` on PATH): a throwaway venv, `pip install .` (the lean tap),
`tap-pinterest-ads --about`, a short sync against the sandbox (run by this venv's Python), then
`pip install '.[sandbox]'` and the same sync against a sandbox run by that Python, then the same
with the lowest versions pyproject.toml allows (uv's `--resolution lowest-direct`). Exit 1 if any
claimed version fails or is missing, or if `requires-python` does not start at the oldest one.
`scripts/pythons.py 3.10 3.13` checks only those.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from tap_pinterest_ads.sandbox.control import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
ADS = 120  # three pages of 50: enough to walk the scroll cursor
UV = Path(sys.executable).with_name("uv")  # Meltano's dependency, in .venv


def claimed_versions() -> tuple[list[str], str]:
    """From the installed metadata (`make` reinstalls the venv whenever pyproject.toml changes)."""
    project = metadata.metadata("tap-pinterest-ads")
    prefix = "Programming Language :: Python :: "
    classifiers = project.get_all("Classifier") or []
    versions = [c[len(prefix) :] for c in classifiers if re.match(rf"{prefix}3\.\d+$", c)]
    return sorted(versions, key=lambda v: int(v.split(".")[1])), project["Requires-Python"]


def find_python(version: str) -> Path | None:
    found = sorted(
        PYENV.glob(f"{version}.*/bin/python{version}"),
        key=lambda p: int(p.parts[-3].split(".")[2]) if p.parts[-3].split(".")[2].isdigit() else -1,
    )
    if found:
        return found[-1]
    on_path = shutil.which(f"python{version}")
    return Path(on_path) if on_path else None


def run(*args: str | Path, timeout: float = 900) -> str | None:
    """None when the command succeeds, else its last line of output."""
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


def sync(venv: Path, sandbox_python: str | Path, workdir: Path) -> str | None:
    """None when the tap loads exactly the sandbox's truth, else what went wrong."""
    sandbox = SandboxProcess(seed=7, ads=ADS, rate_limit=100_000)
    sandbox.args[0] = str(sandbox_python)
    try:
        with sandbox:
            config = workdir / "config.json"
            config.write_text(json.dumps({"api_key": "wh_pythons", "api_url": sandbox.url}))
            output = workdir / "tap.out"
            with output.open("w") as out:
                tap = [str(venv / "bin" / "tap-pinterest-ads"), "--config", str(config)]
                result = subprocess.run(
                    tap, stdout=out, stderr=subprocess.PIPE, text=True, timeout=300, check=False
                )
            if result.returncode:
                return (result.stderr.strip().splitlines() or ["no output"])[-1]
            messages = [json.loads(line) for line in output.read_text().splitlines()]
            ids = {m["record"]["id"] for m in messages if m["type"] == "RECORD"}
            truth = set(sandbox.truth())
    except RuntimeError as error:  # the sandbox did not start on that Python
        return str(error)
    return None if ids == truth else f"{len(ids)} ids loaded, the sandbox has {len(truth)}"


def check(version: str, python: Path, workdir: Path) -> list[str]:
    """The steps that failed on this Python (empty: all passed), printing each as it goes."""
    venv = workdir / "venv"
    bin_ = venv / "bin"
    pip = [bin_ / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    floor = workdir / "lowest"
    uv_pip = [UV, "pip", "install", "-q", "--python", floor / "bin" / "python"]
    uv_pip += ["--resolution", "lowest-direct"]
    steps: list[tuple[str, Callable[[], str | None]]] = [
        ("venv", lambda: run(python, "-m", "venv", venv)),
        ("pip install .", lambda: run(*pip, ROOT)),
        ("--about", lambda: run(bin_ / "tap-pinterest-ads", "--about", "--format", "json")),
        ("sync", lambda: sync(venv, sys.executable, workdir)),
        ("pip install .[sandbox]", lambda: run(*pip, f"{ROOT}[sandbox]")),
        ("sync, sandbox on this Python", lambda: sync(venv, bin_ / "python", workdir)),
        # The lower bounds too: the oldest version every direct dependency allows.
        ("uv venv (lowest versions)", lambda: run(UV, "venv", "-q", "-p", python, floor)),
        ("uv pip install --resolution lowest-direct", lambda: run(*uv_pip, f"{ROOT}[sandbox]")),
        ("sync, lowest versions", lambda: sync(floor, floor / "bin" / "python", workdir)),
    ]
    failed: list[str] = []
    for name, step in steps:
        started = time.monotonic()
        problem = step()
        took = time.monotonic() - started
        print(f"  {version}  {name:<42} {'FAIL: ' + problem if problem else 'ok'}  ({took:.0f} s)")
        sys.stdout.flush()
        if problem:
            failed.append(name)
            if name in {"venv", "pip install ."}:
                break
    return failed


def main() -> None:
    versions, requires = claimed_versions()
    only = sys.argv[1:]  # `scripts/pythons.py 3.10` checks one version
    print(f"pyproject.toml: requires-python {requires}, classifiers {', '.join(versions)}")
    problems: list[str] = []
    if requires != f">={versions[0]}":
        problems.append(f"requires-python {requires} but the oldest classifier is {versions[0]}")
    checked = [v for v in versions if not only or v in only]
    for version in checked:
        python = find_python(version)
        if python is None:
            problems.append(f"{version}: no interpreter found (pyenv install {version})")
            continue
        print(f"{version}: {python}")
        with tempfile.TemporaryDirectory(prefix=f"pythons-{version}-") as workdir:
            problems += [f"{version}: {step}" for step in check(version, python, Path(workdir))]
    if problems:
        raise SystemExit("make pythons failed:\n  " + "\n  ".join(problems))
    print(f"make pythons: the tap installs and syncs on {', '.join(checked)}")


if __name__ == "__main__":
    main()
