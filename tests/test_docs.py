"""The README's quick start and data dictionary stay in step with the code and CI."""

from __future__ import annotations

from pathlib import Path

from warehouse.dictionary import render_markdown

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- data-dictionary:start -->\n", "<!-- data-dictionary:end -->"


def test_readme_data_dictionary_is_generated_from_the_table_specs() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index(START) + len(START) : readme.index(END)]
    assert block == render_markdown(), "run: python -m warehouse.dictionary, paste into README"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = next(line for line in ci.splitlines() if "pytest" in line)
    assert f"```sh\n{command}\n```" in readme


def test_readme_quick_start_runs_the_demo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "&& .venv/bin/personas demo\n" in readme


def test_the_readme_configuration_example_is_valid(tmp_path: Path) -> None:
    from config.loader import load_config

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration") :]
    example = section[
        section.index("```toml\n") + 8 : section.index("```", section.index("```toml") + 7)
    ]
    # the example's database source needs a server; point it at a file to load the rest
    example = example.replace('url = "postgresql+psycopg://crm@db/crm"', 'path = "c.csv"')
    example = example.replace('table = "accounts"', "")
    config = tmp_path / "personas.toml"
    config.write_text(example, encoding="utf-8")
    settings = load_config(config).settings
    assert settings.segments.geographic.default == "Elsewhere"
    assert settings.personas.goal == "profit"
