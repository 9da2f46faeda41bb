"""Tests for the URL extractor and code-status classifier in ``orchestration.parse.code_links``.

The evaluation set ``tests/data/code_status_eval.csv`` is hand-written (made-up snippets, not
copied from real abstracts); its per-status precision and recall must stay >= 0.9 so that a rule
regression fails CI.  Run with ``-s`` to see the table.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl
import pytest

from orchestration.parse.code_links import REPOSITORY_HOSTS, code_link_columns, is_repository_url
from orchestration.parse.contract import CODE_STATUSES

EVAL_CSV = Path(__file__).parent / "data" / "code_status_eval.csv"
MIN_SCORE = 0.9


def classify(abstracts: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame({"abstract": abstracts}, schema={"abstract": pl.String})
    return frame.with_columns(code_link_columns(pl.col("abstract")))


def urls_of(abstract: str | None) -> list[str]:
    value: list[str] = classify([abstract])["urls"].to_list()[0]
    return value


# --- (a) URL extraction ------------------------------------------------------------------------


def test_output_schema_and_null_abstract() -> None:
    out = classify([None, ""])
    assert out.schema["urls"] == pl.List(pl.String)
    assert out.schema["code_url"] == pl.String
    assert out.schema["code_status"] == pl.String
    assert out["urls"].to_list() == [[], []]
    assert out["code_url"].to_list() == [None, None]
    assert out["code_status"].to_list() == ["none", "none"]


def test_urls_in_order_of_appearance() -> None:
    text = "See https://b.example.org/x first, then http://a.example.com/y and www.c.example.net."
    assert urls_of(text) == [
        "https://b.example.org/x",
        "http://a.example.com/y",
        "www.c.example.net",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Code at https://github.com/o/r.", ["https://github.com/o/r"]),
        ("at https://github.com/o/r, and", ["https://github.com/o/r"]),
        ("at https://github.com/o/r; and", ["https://github.com/o/r"]),
        ("(see https://github.com/o/r)", ["https://github.com/o/r"]),
        ("[see https://github.com/o/r]", ["https://github.com/o/r"]),
        ("(see https://github.com/o/r).", ["https://github.com/o/r"]),
        ("Code: https://x.example.org/a/:", ["https://x.example.org/a/"]),
        ('"https://x.example.org/q?a=1&b=2"!', ["https://x.example.org/q?a=1&b=2"]),
        ("[hub](https://huggingface.co/org/m).", ["https://huggingface.co/org/m"]),
        ("wiki https://en.example.org/wiki/A_(b) ok", ["https://en.example.org/wiki/A_(b)"]),
    ],
)
def test_trailing_punctuation_and_brackets(text: str, expected: list[str]) -> None:
    assert urls_of(text) == expected


def test_scheme_less_forms() -> None:
    text = "Mirrors: www.github.com/o/r1 and github.com/o/r2. Page: team.github.io/proj."
    assert urls_of(text) == ["www.github.com/o/r1", "github.com/o/r2", "team.github.io/proj"]


def test_scheme_less_hugging_face_and_no_false_urls() -> None:
    assert urls_of("weights on huggingface.co/org/model.") == ["huggingface.co/org/model"]
    assert urls_of("We use e.g. 3.5 million images, i.e. more data.") == []
    assert urls_of("A self-hosted mygithub.com is not github.") == []


# --- (b) repository hosts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/o/r",
        "http://www.github.com/o/r/tree/main/src",
        "github.com/o/r",
        "https://gitlab.com/group/sub/repo",
        "https://bitbucket.org/o/r",
        "https://codeberg.org/o/r",
        "https://gitee.com/o/r",
        "https://sourceforge.net/projects/p/",
        "https://git.sr.ht/~u/r",
        "https://anonymous.4open.science/r/ABC-12/",
    ],
)
def test_repository_urls(url: str) -> None:
    out = pl.DataFrame({"u": [url]}).select(is_repository_url(pl.col("u")))
    assert out.item() is True


@pytest.mark.parametrize(
    "url",
    [
        "https://foo.github.io/bar",
        "https://github.com/owner",
        "https://github.com/owner/",
        "https://github.com/topics/nlp",
        "https://huggingface.co/o/r",
        "https://bit.ly/xyz",
        "https://gitlab.com/group",
        "https://anonymous.4open.science/",
        "https://example.org/github.com/o/r",
    ],
)
def test_not_repository_urls(url: str) -> None:
    out = pl.DataFrame({"u": [url]}).select(is_repository_url(pl.col("u")))
    assert out.item() is False


def test_every_listed_host_is_recognised() -> None:
    samples = {
        "github.com": "https://github.com/o/r",
        "gitlab.com": "https://gitlab.com/o/r",
        "bitbucket.org": "https://bitbucket.org/o/r",
        "codeberg.org": "https://codeberg.org/o/r",
        "gitee.com": "https://gitee.com/o/r",
        "sourceforge.net": "https://sourceforge.net/projects/p",
        "git.sr.ht": "https://git.sr.ht/~u/r",
        "anonymous.4open.science": "https://anonymous.4open.science/r/x",
    }
    assert set(samples) == set(REPOSITORY_HOSTS)
    out = classify([f"Code: {url}." for url in samples.values()])
    assert out["code_url"].to_list() == list(samples.values())
    assert set(out["code_status"]) == {"repository"}


def test_code_url_is_first_repository_not_first_url() -> None:
    text = (
        "Project page https://p.github.io/x; weights https://huggingface.co/o/m; "
        "code https://gitlab.com/a/b and https://github.com/c/d."
    )
    out = classify([text])
    assert out["code_url"].item() == "https://gitlab.com/a/b"
    assert out["urls"].to_list()[0][0] == "https://p.github.io/x"


# --- (c) evaluation on the labelled set --------------------------------------------------------


def load_eval() -> pl.DataFrame:
    with EVAL_CSV.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    frame = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    return frame.with_columns(pl.col("expected_code_url").replace("", None))


def test_eval_set_is_big_enough_and_valid() -> None:
    frame = load_eval()
    assert frame.height >= 70
    counts = dict(frame.group_by("expected_status").len().iter_rows())
    assert set(counts) == set(CODE_STATUSES)
    assert all(n >= 12 for n in counts.values()), counts
    # ground truth is self-consistent: a URL exactly when the status is "repository"
    consistent = frame.select(
        (pl.col("expected_code_url").is_not_null() == (pl.col("expected_status") == "repository")).all()
    ).item()
    assert consistent


def test_precision_and_recall_per_status() -> None:
    frame = load_eval()
    predicted = frame.with_columns(code_link_columns(pl.col("snippet")))
    lines = [f"{'status':<11} {'prec':>5} {'recall':>6} {'n':>3}"]
    failures = []
    for status in CODE_STATUSES:
        truth = predicted["expected_status"] == status
        guess = predicted["code_status"] == status
        tp = int((truth & guess).sum())
        precision = tp / max(int(guess.sum()), 1)
        recall = tp / max(int(truth.sum()), 1)
        lines.append(f"{status:<11} {precision:5.2f} {recall:6.2f} {truth.sum():3d}")
        if precision < MIN_SCORE or recall < MIN_SCORE:
            failures.append(status)
    wrong = predicted.filter(pl.col("expected_status") != pl.col("code_status"))
    for snippet, exp, got in wrong.select("snippet", "expected_status", "code_status").rows():
        lines.append(f"  MISS expected={exp} got={got}: {snippet}")
    print("\n" + "\n".join(lines))
    assert not failures, "\n".join(lines)
    # code_url agrees wherever the status is right
    url_ok = predicted.filter(pl.col("expected_status") == pl.col("code_status")).select(
        pl.col("expected_code_url").eq_missing(pl.col("code_url")).all()
    )
    assert url_ok.item()


HARD_CASES = [
    (
        "The code will be available at https://github.com/x/y.",
        "repository",
        "https://github.com/x/y",
    ),
    ("Project page: https://foo.github.io/bar", "none", None),
    ("Code: https://bit.ly/xyz", "claimed", None),
    ("Models are released on huggingface.co/org/model-7b.", "none", None),
    ("We study code generation and find code LLMs fail on rare APIs.", "none", None),
    ("Papers are collected at https://github.com/u/awesome-world-models.", "repository", None),
    ("Mirror: www.github.com/o/r", "repository", "www.github.com/o/r"),
    ("Code is at github.com/o/r.", "repository", "github.com/o/r"),
    ("Code and data will be made publicly available.", "promised", None),
    ("Our implementation is publicly available.", "claimed", None),
    ("Code will be released upon acceptance.", "promised", None),
    ("We release the dataset.", "none", None),
    ("The source code is available at https://team.github.io/proj.", "claimed", None),
    ("We release the corpus, and code will follow upon acceptance.", "promised", None),
    ("Code is available. Results will be released later.", "claimed", None),
    ("We study code. Evaluation data will be released later.", "none", None),
    ("We release a new benchmark for code generation.", "none", None),
    ("Open-source code LLMs are publicly available, yet they lag behind.", "none", None),
    (
        "Code: https://gitlab.com/a/b; https://git.sr.ht/~c/d.",
        "repository",
        "https://gitlab.com/a/b",
    ),
]


@pytest.mark.parametrize(("snippet", "status", "code_url"), HARD_CASES)
def test_named_hard_cases(snippet: str, status: str, code_url: str | None) -> None:
    out = classify([snippet])
    assert out["code_status"].item() == status
    if code_url is not None:
        assert out["code_url"].item() == code_url


def test_never_null_and_only_contract_statuses() -> None:
    frame = load_eval()
    statuses = frame.select(code_link_columns(pl.col("snippet"))[2])["code_status"]
    assert statuses.null_count() == 0
    assert set(statuses) <= set(CODE_STATUSES)


def test_sentence_windows_do_not_leak() -> None:
    # "code" and "available" in different sentences must not combine
    text = "We analyse code. " + "Filler words here. " * 3 + "Many datasets are available."
    assert classify([text])["code_status"].item() == "none"
