"""Options with a fixed set of values show and enforce them (``--method`` of explain and
recalibrate): ``--help`` lists the choices, anything else is refused by the parser with the
choices named, before a model is loaded."""

from __future__ import annotations

import pytest
import typer.rich_utils
from typer.testing import CliRunner

from mmrisk.cli import app

runner = CliRunner()

CHOICES = {
    "recalibrate": ["baseline", "intercept", "slope"],
    "explain": ["auto", "permutation"],
}
REQUIRED = {
    "recalibrate": ["--model", "models:/x/1", "--data", "nowhere"],
    "explain": ["--model", "models:/x/1", "--data", "nowhere", "--out", "nowhere"],
}


def _squash(text: str) -> str:
    """The text without whitespace and rich's box lines (help is wrapped in panels)."""
    return "".join(text.replace("│", " ").split())


@pytest.mark.parametrize("command", sorted(CHOICES))
def test_help_lists_the_methods(command, monkeypatch):
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 250)  # one line per option
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0
    (line,) = [line for line in res.output.splitlines() if "--method" in line]
    assert "<" + "|".join(CHOICES[command]) + ">" in line


@pytest.mark.parametrize("command", sorted(CHOICES))
def test_an_unknown_method_is_refused_with_the_choices(command):
    res = runner.invoke(app, [command, *REQUIRED[command], "--method", "magic"],
                        terminal_width=200)
    assert res.exit_code == 2
    text = _squash(res.output)
    assert "magic" in text and all(f"'{c}'" in text for c in CHOICES[command])
    assert "Traceback" not in res.output


def test_help_paragraphs_wrap_at_the_terminal_not_at_the_docstring(monkeypatch):
    """A docstring's own line breaks do not survive into --help (they wrapped raggedly)."""
    monkeypatch.setattr(typer.rich_utils, "MAX_WIDTH", 250)
    res = runner.invoke(app, ["server", "--help"])
    assert res.exit_code == 0
    lines = [line.strip() for line in res.output.splitlines()]
    assert any("(or MLFLOW_TRACKING_URI). The database is created or migrated once, when the "
               "server starts" in line for line in lines), res.output
