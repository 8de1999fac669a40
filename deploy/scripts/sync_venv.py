"""Check that the running environment holds exactly the pins of a lock file (requirements.lock).

    python deploy/scripts/sync_venv.py [--remove-extra] requirements.lock

Exits non-zero, naming each package, when one is missing or at another version. A package the lock
does not list fails too, unless --remove-extra uninstalls it (what `make venv` does after a changed
lock, since `pip install -r` only adds). pip itself and the project (installed with --no-deps) are
not in the lock. Standard library only: it runs in a venv before anything else is installed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

# The installer and the project itself: neither is a locked dependency.
NOT_LOCKED = {"pip", "mlops-assets"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_pins(lock: Path) -> dict[str, str]:
    pins = {}
    for line in lock.read_text().splitlines():
        if match := PIN.match(line):
            pins[normalize(match[1])] = match[2]
    if not pins:
        raise SystemExit(f"{lock}: no `name==version` pins found")
    return pins


def installed() -> dict[str, str]:
    return {
        normalize(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
        if normalize(dist.metadata["Name"]) not in NOT_LOCKED
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--remove-extra", action="store_true", help="uninstall packages the lock lacks")
    args = parser.parse_args(argv)

    pins, present = locked_pins(args.lock), installed()
    extra = sorted(set(present) - set(pins))
    if extra and args.remove_extra:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *extra], check=True)
        present = installed()
        extra = []
    problems = [
        f"{name}: locked {version}, not installed" for name, version in pins.items() if name not in present
    ]
    problems += [
        f"{name}: locked {version}, installed {present[name]}"
        for name, version in pins.items()
        if name in present and present[name] != version
    ]
    problems += [f"{name}=={present[name]}: installed, not in {args.lock}" for name in extra]
    for problem in sorted(problems):
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
