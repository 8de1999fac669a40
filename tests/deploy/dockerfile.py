"""Just enough of Dockerfile and .dockerignore semantics to check deploy/Dockerfile without an engine."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: str  # name (or index) of the build stage the instruction belongs to

    def exec_form(self) -> list[str]:
        """The JSON-array form of CMD/ENTRYPOINT/HEALTHCHECK CMD arguments."""
        text = self.args.split("CMD", 1)[1] if self.keyword == "HEALTHCHECK" else self.args
        return json.loads(text.strip())


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (no heredocs in our file)."""
    logical, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    instructions, stage = [], ""
    for index, line in enumerate(logical):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.search(r"\bAS\s+(\S+)\s*$", args, flags=re.IGNORECASE)
            stage = match.group(1) if match else str(index)
        instructions.append(Instruction(keyword, " ".join(args.split()), stage))
    return instructions


def _pattern_regex(pattern: str) -> re.Pattern:
    # Docker's matcher: Go filepath.Match per path, plus `**` for any number of directories.
    pattern = os.path.normpath(pattern.strip().lstrip("/"))
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def build_context(root: Path, dockerignore: Path) -> set[str]:
    """Relative paths of the files a build with this ignore file sends (last matching rule wins;
    a rule that matches a directory applies to everything below it)."""
    rules, reincluded = [], []
    for line in dockerignore.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated, pattern = line.startswith("!"), line.lstrip("!")
            rules.append((negated, _pattern_regex(pattern)))
            if negated:  # the literal part of a rule that lets files back in
                reincluded.append(re.split(r"[*?\[]", os.path.normpath(pattern.lstrip("/")))[0])

    def excluded(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        verdict = False
        for negated, regex in rules:
            if any(regex.match(prefix) for prefix in prefixes):
                verdict = not negated
        return verdict

    included = set()
    for directory, dirs, files in os.walk(root):
        rel_dir = os.path.relpath(directory, root)
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        # Skip excluded directories unless a negated rule could let something below them back in.
        dirs[:] = [
            d
            for d in dirs
            if not excluded(rel_dir + d) or any(prefix.startswith(rel_dir + d) for prefix in reincluded)
        ]
        included.update(rel_dir + f for f in files if not excluded(rel_dir + f))
    return included
