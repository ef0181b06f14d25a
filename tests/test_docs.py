"""The README teaches what the code offers: every setting and every command is named there."""

from __future__ import annotations

from qa.cli import cli
from qa.settings import PROJECT_ROOT, Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_readme():
    missing = [name for name in Settings.model_fields if f"QA_{name.upper()}" not in README]
    assert missing == []


def test_every_command_is_in_the_readme():
    missing = [name for name in cli.commands if f"qa {name}" not in README]
    assert missing == []


def test_the_readme_names_each_layer_settings_object():
    for name in ("RetrievalSettings", "AnswerSettings", "SegmentSettings"):
        assert name in README
