"""Every measured figure the docs quote (annotated `<!--fig FILE KEY-->`) is the value bench/results holds."""

from __future__ import annotations

from bench.figures import DOCS, REPO, check


def test_every_annotated_figure_in_the_docs_is_its_result() -> None:
    figures = check()
    stale = [f"{figure.doc.relative_to(REPO)}:{figure.line}: {figure.text} but {figure.source} is {number:,.4g}"
             for figure, number, ok in figures if not ok]
    assert not stale, ("docs quote figures bench/results no longer holds; after a `make bench` you mean to publish, "
                       "run `python -m bench.figures --fix` and re-read the sentences around them:\n"
                       + "\n".join(stale))


def test_the_docs_annotate_the_figures_of_every_result_file() -> None:
    quoted = {figure.file for figure, _, _ in check()}
    published = {p.name for p in (REPO / "bench" / "results").glob("*.json") if not p.name.startswith("compare")}
    assert published <= quoted, f"no figure of {sorted(published - quoted)} is annotated in {[d.name for d in DOCS]}"
