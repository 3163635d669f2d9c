"""A Sphinx directive that shows the commands of a section of the README.

``.. readme-commands:: Quick start`` renders the fenced code blocks of the
README.md section titled "Quick start", so the documentation never drifts from
the README. A missing section, or a section without code, is a build error.
"""

from __future__ import annotations

import os
import re
from typing import List, Tuple

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")


def section_code_blocks(markdown: str, title: str) -> List[Tuple[str, str]]:
    """Return the ``(language, code)`` fenced blocks of the section ``## title``.

    Parameters
    ----------
    markdown : str
        The text of a Markdown file.
    title : str
        The title of a second-level section (``## title``).

    Returns
    -------
    list of tuple of str
        The blocks in order; ``language`` is ``""`` for a bare fence.

    Raises
    ------
    ValueError
        If the file has no such section.
    """
    lines = markdown.splitlines()
    try:
        start = next(index for index, line in enumerate(lines)
                     if line.strip() == f"## {title}")
    except StopIteration:
        sections = [line[3:].strip() for line in lines if line.startswith("## ")]
        raise ValueError(f"no section {title!r} in the README; its sections are "
                         f"{sections}") from None
    blocks: List[Tuple[str, str]] = []
    language, code = None, []
    for line in lines[start + 1:]:
        if language is None and line.startswith("## "):
            break
        fence = _FENCE.match(line)
        if fence and language is None:
            language, code = fence.group(1), []
        elif line.strip() == "```" and language is not None:
            blocks.append((language, "\n".join(code)))
            language = None
        elif language is not None:
            code.append(line)
    return blocks


class ReadmeCommands(SphinxDirective):
    """``.. readme-commands:: <section title>``: the code blocks of a README section."""

    required_arguments = 1
    final_argument_whitespace = True
    option_spec = {"path": str}

    def run(self) -> List[nodes.Node]:
        relative = self.options.get("path", "../README.md")
        path = os.path.normpath(os.path.join(self.env.srcdir, relative))
        self.env.note_dependency(path)
        try:
            with open(path, encoding="utf-8") as stream:
                blocks = section_code_blocks(stream.read(), self.arguments[0])
        except (OSError, ValueError) as error:
            raise self.error(f"readme-commands: {error}") from None
        if not blocks:
            raise self.error(f"readme-commands: section {self.arguments[0]!r} of {path} "
                             "has no fenced code block")
        result = []
        for language, code in blocks:
            block = nodes.literal_block(code, code)
            block["language"] = language or "bash"
            block["classes"].append("readme-commands")  # styled in _static/pynet_cvae.css
            result.append(block)
        return result


def setup(app: Sphinx) -> dict:
    """Register the directive."""
    app.add_directive("readme-commands", ReadmeCommands)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
