"""The report's texts: every caption and the landing page are valid reST (a warning is an error)."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
from docutils.core import publish_parts

from conftest import REPO

TEXTS = sorted((REPO / "workflow" / "report").glob("*.rst"))


class Anything:
    """Stands for snakemake.* in a caption's template: any attribute, rendered as a word."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

    def __getitem__(self, key):
        return Anything()

    def __call__(self, *args, **kwargs):
        return Anything()

    def __iter__(self):  # two items, each of which unpacks into two (a dict's items())
        return iter([Anything(), Anything()])

    def __str__(self):
        return "value"


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.name)
def test_each_caption_is_rest_without_a_warning(path: Path):
    text = jinja2.Template(path.read_text()).render(snakemake=Anything(), categories={}, files={})
    publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2, "report_level": 5})


def test_a_lone_star_is_caught():
    with pytest.raises(Exception, match="Inline emphasis"):
        publish_parts("a gap carries a *.", writer_name="html", settings_overrides={"halt_level": 2, "report_level": 5})


def test_the_landing_text_names_every_section_of_the_report():
    text = (REPO / "workflow/report/workflow.rst").read_text()
    categories = set()
    for smk in (REPO / "rules").glob("*.smk"):
        rules = smk.read_text()
        categories |= set(re.findall(r'(?<!sub)category="([^"]+)"', rules))
        categories |= set(re.findall(r'table_in_report\((?:"[^"]+", ){3}"([^"]+)"', rules))
    assert categories >= {"Tables", "Transfer", "Robustness", "Qualitative", "Why it drops"}
    for category in categories:
        assert f"**{category}**" in text, category
