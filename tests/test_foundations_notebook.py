"""The foundations notebook as a document: its text renders, what it cites exists,
its parameters example is accepted, and its "What we see" prose quotes no numbers
(they come from the run, in a claims table shown just before)."""

import ast
import re

import nbformat
import pytest

import rnnmem_utils as rm
from rnnmem_utils.io import REPO_ROOT

NB = REPO_ROOT / "notebooks" / "00_foundations.ipynb"
# JSON escapes gone wrong ("\tanh" read as a tab + "anh"), and other controls
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\t")


@pytest.fixture(scope="module")
def cells():
    return nbformat.read(NB, as_version=4).cells


def test_no_control_characters(cells):
    bad = [
        (i, repr(m.group()), c.source[max(0, m.start() - 20) : m.end() + 20])
        for i, c in enumerate(cells)
        for m in CONTROL.finditer(c.source)
    ]
    assert not bad, bad


def test_latex_commands_keep_their_backslash(cells):
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    for cmd in ("tanh", "sigma", "mathrm", "partial", "le", "max", "text"):
        assert not re.search(rf"(?<![\\\w]){cmd}[({{'_]", text)


def test_cited_files_exist(cells):
    cited = {p for c in cells for p in re.findall(r"tests/[\w/]+\.py", c.source)}
    assert cited, "the notebook should cite its tests"
    assert [p for p in cited if not (REPO_ROOT / p).exists()] == []


def test_cited_test_functions_exist(cells):
    text = "\n".join(c.source for c in cells)
    for name, path in re.findall(r"`(test_\w+)` in `(tests/[\w/]+\.py)`", text):
        assert f"def {name}(" in (REPO_ROOT / path).read_text(), name


def test_parameters_example_is_a_real_parameter(cells):
    (params,) = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    example = re.search(r"e\.g\. (\{.*?\})", params.source).group(1)
    rm.config.resolve("foundations", "smoke", ast.literal_eval(example))


def test_what_we_see_is_qualitative_after_a_claims_table(cells):
    seen = 0
    for i, c in enumerate(cells):
        if c.cell_type != "markdown" or "**What we see.**" not in c.source:
            continue
        seen += 1
        prose = c.source.split("**What we see.**", 1)[1].split("\n\n")[0]
        assert not re.search(r"\d\.\d|\d\s*%|\d+x\b", prose), prose
        prev = cells[i - 1]
        assert prev.cell_type == "code" and '"claims"].show(' in prev.source, i
    assert seen >= 8


def test_no_experiment_number(cells):
    assert not any(re.search(r"\bE6\b", c.source) for c in cells)


def test_claims_table_cells_survive_pipes():
    cfg = rm.config.resolve("foundations", "smoke")
    cs = rm.claims.ClaimSet("foundations", cfg, "smoke")
    cs.add(
        rm.claims.Claim("a", "||P_k|| <= s^k", "|r| >= 0.9", "|r| = 0.5", "c", "partly")
    )
    row = cs.table().splitlines()[-1]
    assert len(re.findall(r"(?<!\\)\|", row)) == 6  # five cells, none split
