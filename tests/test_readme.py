"""Every Python block in README.md runs as written.

Blocks are grouped by their `##` section and each section runs in a fresh interpreter
(sections build on their own earlier blocks, never on other sections).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _sections() -> dict[str, str]:
    text = README.read_text()
    sections: dict[str, list[str]] = {}
    title = "preamble"
    for line_block in re.split(r"(?m)^(## .*)$", text):
        if line_block.startswith("## "):
            title = line_block[3:].strip()
            continue
        blocks = re.findall(r"```python\n(.*?)```", line_block, flags=re.S)
        if blocks:
            sections.setdefault(title, []).extend(blocks)
    return {k: "\n".join(v) for k, v in sections.items()}


SECTIONS = _sections()


@pytest.mark.parametrize("title", sorted(SECTIONS) or ["(no python blocks)"])
def test_readme_section_runs(title, tmp_path):
    if title not in SECTIONS:
        pytest.fail("README.md has no python examples")
    out = subprocess.run(
        [sys.executable, "-c", SECTIONS[title]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert out.returncode == 0, f"README section {title!r} failed:\n{out.stderr[-4000:]}"


def test_readme_is_built_from_docs_sections():
    build = README.parent / "docs" / "build_readme.py"
    out = subprocess.run([sys.executable, str(build), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
