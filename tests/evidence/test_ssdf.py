"""The SSDF v1.1 mapping cites real paths, covers every practice, and a mapping
that cites a missing path fails the evidence build."""

from __future__ import annotations

from pathlib import Path

from app.evidence import service
from app.evidence.service import cited_paths, practices_in

ROOT = Path(__file__).resolve().parents[2]
MAPPING = (ROOT / service.SSDF_DOC).read_text()
# NIST SP 800-218 v1.1: PW.3 was folded into PW.4, so there is none.
PRACTICES = [*(f"PO.{n}" for n in range(1, 6)), "PS.1", "PS.2", "PS.3",
             *(f"PW.{n}" for n in (1, 2, 4, 5, 6, 7, 8, 9)), "RV.1", "RV.2", "RV.3"]  # fmt: skip


def test_every_path_the_mapping_cites_exists() -> None:
    cited = cited_paths(MAPPING)
    assert len(cited) >= 30  # the extractor found the citations (not an empty pass)
    missing = [path for path in cited if not (ROOT / path).exists()]
    assert missing == []


def test_every_ssdf_practice_has_a_row_tied_to_a_path() -> None:
    assert practices_in(MAPPING) == PRACTICES
    for line in MAPPING.splitlines():
        if line.startswith(tuple(f"| {p} |" for p in PRACTICES)):
            assert cited_paths(line), f"{line[:12]} cites no control, test or file"


def test_a_citation_of_a_missing_path_fails_the_part(tmp_path: Path) -> None:
    doc = tmp_path / service.SSDF_DOC
    doc.parent.mkdir(parents=True)
    doc.write_text("| PO.1 | x | `app/cli.py` and `tests/no_such_test.py` |\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "cli.py").write_text("")
    stage = tmp_path / "stage"
    stage.mkdir()
    inputs = service.Inputs(settings=None, db=None, root=tmp_path, tools=tmp_path)  # type: ignore[arg-type]
    part = service.ssdf(stage, inputs)
    assert (part.status, part.detail) == (
        "failed",
        "cites paths that do not exist: tests/no_such_test.py",
    )
    assert (stage / "ssdf.md").exists()  # the pack shows what was wrong
