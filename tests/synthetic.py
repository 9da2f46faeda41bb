"""Synthetic Daily Papers dumps for the tests, the demo files in ``raw/`` and the benchmarks.

Not part of the shipped package: production never imports it. Every title, abstract and name is
assembled from a made-up vocabulary, so the output is free to publish. It is realistic where the
pipeline cares: both text layouts, papers that trend for days and come back later, upvotes that
never fall, the four code statuses with links on every recognised host (and distractors), the
byte-level noise of saved pages (``RenderStyle``), and the same papers as the JSON of the
daily-papers API (``SyntheticDump.render_api``, with ``ApiVariant`` for missing, extra and hostile
fields). Each ``Entry`` carries its ground truth, so tests check the parsers against it.

Deterministic: the same arguments give the same bytes on every machine (one ``random.Random(seed)``
stream, plus one per paper for the API-only facts, so they never shift a text dump). It streams
dump by dump, so a ten-year corpus needs little memory. It is long because it models two page
formats and their noise; nothing in it is logic the pipeline shares.

CLI: ``python -m tests.synthetic OUT_DIR --days N --papers-per-day M --seed S [--start YYYY-MM-DD]
[--format text|api_json|mixed] [--force]`` (``mixed`` writes every third day as API JSON).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import os
import random
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HEADER_TOP = ("new", "Get trending papers in your email inbox!", "Subscribe")
HEADER_DAILY = "Daily Papers"
HEADER_BYLINE = "byAK and the research community"
BULLET = "\u2022"
MIDDOT = "\u00b7"
NBSP = "\u00a0"
BOM = "\ufeff"
DEFAULT_START = datetime.date(2026, 3, 2)
OutputFormat = Literal["text", "api_json", "mixed"]
OUTPUT_FORMATS: tuple[OutputFormat, ...] = ("text", "api_json", "mixed")


@dataclass(frozen=True)
class Entry:
    """One paper as shown on one day's page, plus the ground truth its abstract expresses."""

    title: str
    abstract: str | None  # None only allowed for layout "B"
    layout: Literal["A", "B"]
    n_authors: int | None = None  # layout B: exactly one of n_authors / org_handle is set
    org_handle: str | None = None
    org_name: str | None = None
    published_on: datetime.date | None = None  # layout B only
    show_year: bool = True  # False -> "Mon D" (valid only within the page date's year)
    upvotes: int | None = None  # layout B only; None -> no count shown
    code_status: str = "none"  # ground truth the abstract was written to express
    code_url: str | None = None  # ground truth repository URL
    # Seen only through the API (render_api); the text page shows none of these.
    arxiv_id: str | None = None  # paper.id; None -> the record has no id (an item reject)
    authors: tuple[str, ...] = ()  # paper.authors[].name, in order
    n_comments: int = 0  # numComments
    api_github_repo: str | None = None  # paper.githubRepo (always a repository URL when set)

    @property
    def api_code(self) -> tuple[str, str | None, str | None]:
        """``(code_status, code_url, code_source)`` as the API parser must report them.

        A ``githubRepo`` wins over the abstract (``source='api'``); otherwise the abstract's
        truth applies, with ``source='abstract'`` when it links a repository.
        """
        if self.api_github_repo is not None:
            return "repository", self.api_github_repo, "api"
        return self.code_status, self.code_url, "abstract" if self.code_url is not None else None

    def __post_init__(self) -> None:
        if self.layout == "A":
            metadata = (self.n_authors, self.org_handle, self.org_name, self.published_on)
            if self.abstract is None or any(v is not None for v in metadata):
                raise ValueError("layout A has an abstract and no metadata block")
            if self.upvotes is not None:
                raise ValueError("layout A shows no upvotes")
        else:
            if (self.n_authors is None) == (self.org_handle is None):
                raise ValueError("layout B needs exactly one of n_authors / org_handle")
            if (self.org_handle is None) != (self.org_name is None):
                raise ValueError("org_handle and org_name go together")
            if self.published_on is None:
                raise ValueError("layout B needs published_on")


@dataclass(frozen=True)
class RenderStyle:
    """Byte-level noise to apply when rendering a dump (defaults: clean, like the seeds)."""

    line_ending: str = "\n"  # "\n", "\r\n" or "\r"
    bom: bool = False
    trailing_spaces: bool = False
    extra_blank_lines: bool = False
    nbsp: bool = False  # non-breaking spaces inside title/abstract
    final_newline: bool = True
    daily_papers_header: bool = True


@dataclass(frozen=True)
class SyntheticDump:
    """One day's page: file name, page date and the entries in page order."""

    file_name: str  # e.g. "2026-03-17.txt"
    page_date: datetime.date
    entries: tuple[Entry, ...]

    def render(self, style: RenderStyle = RenderStyle()) -> bytes:
        """The dump's bytes as they would be saved from the page."""
        return render_dump(self.page_date, self.entries, style)

    @property
    def api_file_name(self) -> str:
        """``YYYY-MM-DD.json``: the name an API dump of this day is saved under."""
        return f"{self.page_date.isoformat()}.json"

    def api_entries(self, variant: ApiVariant | None = None) -> tuple[Entry, ...]:
        """The entries as ``render_api(variant)`` writes them (hostile values substituted)."""
        variant = variant or ApiVariant()
        return hostile_entries(self.entries) if variant.hostile else self.entries

    def render_api(self, variant: ApiVariant | None = None) -> bytes:
        """The day as the daily-papers API returns it: a UTF-8 JSON array, one item per entry."""
        variant = variant or ApiVariant()
        return render_api(self.page_date, self.api_entries(variant), variant)


# --- rendering ---------------------------------------------------------------------------------


def format_day(day: datetime.date, *, with_year: bool) -> str:
    """``Mar 7`` or ``Mar 7, 2026`` -- English month names regardless of locale."""
    text = f"{MONTHS[day.month - 1]} {day.day}"
    return f"{text}, {day.year}" if with_year else text


def _entry_paragraphs(entry: Entry, page_date: datetime.date) -> list[list[str]]:
    paragraphs: list[list[str]] = [[entry.title]]
    if entry.abstract is not None:
        paragraphs.append([entry.abstract])
    if entry.layout == "B":
        assert entry.published_on is not None
        if not entry.show_year and (entry.published_on.year != page_date.year or entry.published_on > page_date):
            raise ValueError(
                f"show_year=False needs published_on ({entry.published_on}) in the page's year "
                f"and not after the page date ({page_date})"
            )
        who = (
            f"  {BULLET} {entry.n_authors} authors"
            if entry.n_authors is not None
            else f"{entry.org_handle} {entry.org_name}"
        )
        when = format_day(entry.published_on, with_year=entry.show_year)
        if entry.upvotes is not None:
            when = f"{when} {entry.upvotes}"
        paragraphs.append([who, MIDDOT, when])
    return paragraphs


def _add_nbsp(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    if len(words) < 2:
        return text
    out = [words[0]]
    for word in words[1:]:
        out.append((NBSP if rng.random() < 0.05 else " ") + word)
    return "".join(out)


def render_dump(
    page_date: datetime.date,
    entries: Sequence[Entry],
    style: RenderStyle = RenderStyle(),
) -> bytes:
    """Render a page as UTF-8 bytes: paragraphs separated by one blank line, then style noise.

    Noise positions come from a RNG seeded by the page date, so rendering is deterministic.
    """
    if style.line_ending not in ("\n", "\r\n", "\r"):
        raise ValueError(f"unsupported line ending {style.line_ending!r}")
    rng = random.Random(f"render:{page_date.isoformat()}")
    paragraphs: list[list[str]] = [[line] for line in HEADER_TOP]
    if style.daily_papers_header:
        paragraphs.append([HEADER_DAILY])
    paragraphs.append([HEADER_BYLINE])
    paragraphs.append([format_day(page_date, with_year=False)])
    for entry in entries:
        entry_paragraphs = _entry_paragraphs(entry, page_date)
        if style.nbsp:
            entry_paragraphs[0] = [_add_nbsp(entry_paragraphs[0][0], rng)]
            if entry.abstract is not None:
                entry_paragraphs[1] = [_add_nbsp(entry_paragraphs[1][0], rng)]
        paragraphs.extend(entry_paragraphs)

    lines: list[str] = []
    for index, paragraph in enumerate(paragraphs):
        if index:
            lines.append("")
            if style.extra_blank_lines and rng.random() < 0.1:
                lines.append("")
        lines.extend(paragraph)
    if style.trailing_spaces:
        lines = [line + " " * rng.randint(1, 3) if rng.random() < 0.2 else line for line in lines]
    text = style.line_ending.join(lines)
    if style.final_newline:
        text += style.line_ending
    if style.bom:
        text = BOM + text
    return text.encode("utf-8")


# --- API JSON rendering ----------------------------------------------------------------------


@dataclass(frozen=True)
class ApiVariant:
    """Optional-field variants of an API rendering (defaults: every field the entry has).

    Which items a variant touches is a pure function of the 1-based ``position`` (see
    ``strips`` / ``nulls``) so that tests can compute what the parser must return.
    """

    missing_optional: bool = False  # items with position % 3 == 2 carry only paper.id and titles
    null_optional: bool = False  # items with position % 3 == 0 carry every optional field as null
    extra_fields: bool = False  # unknown fields (nested junk) in items, papers, authors, orgs
    organizations: bool = True  # False: no item has an "organization"
    hostile: bool = False  # hostile titles, summaries and author names (see hostile_entries)
    indent: int | None = None  # pretty-print (whitespace must not matter to a parser)

    def strips(self, position: int) -> bool:
        """Does the item at ``position`` lack every optional field?"""
        return self.missing_optional and position % 3 == 2

    def nulls(self, position: int) -> bool:
        """Does the item at ``position`` have every optional field set to null?"""
        return self.null_optional and position % 3 == 0


HOSTILE_TITLES = (
    "'); DROP TABLE papers; --",
    "<script>alert('x')</script> <b>Bold</b> &amp; Title",
    "\u0646\u0645\u0648\u0630\u062c \u0644\u063a\u0648\u064a \u202eevil\u202c Bidi Title",
    "Emoji \U0001f680\U0001f525 Paper \u2728 Title",
    'Robert"); DELETE FROM sightings WHERE ("1"="1',
    'Quotes "double" \\backslash\\ {"json": [1, 2]} Title',
)
"""Titles a parser must pass through as plain data (SQL, HTML, bidi/RTL, emoji, JSON-ish)."""
HOSTILE_AUTHORS = (
    "Robert'); DROP TABLE authors; --",
    "<i>Ada</i> Lovelace",
    "\u0645\u062d\u0645\u062f \u0639\u0644\u064a",
    "\u674e \u96f7",
    "Zo\u00eb \U0001f680 \u00c5ngstr\u00f6m",
)
"""Author names a parser must pass through as plain data."""
_HOSTILE_PREFIX = "<img src=x onerror=alert(1)> Robert'); DROP TABLE sightings; -- \u202e\U0001f9ea"
_LONG_FILLER = "Lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor."


def hostile_entries(entries: Sequence[Entry]) -> tuple[Entry, ...]:
    """Entries with hostile values substituted (deterministic, by index).

    Every 2nd entry gets a hostile title (cycling through ``HOSTILE_TITLES``, with a counter
    appended from the second cycle on, so titles stay distinct), every 3rd a hostile prefix on its abstract, every 5th a
    summary padded to ~9,000 characters (long but under the parsers' 10,000 limit), every 4th a
    hostile author list.  Whitespace stays single spaces, so the parsed values equal these
    strings exactly; code truth is untouched because the additions hold no link or code phrase.
    """
    out: list[Entry] = []
    for index, entry in enumerate(entries):
        changes: dict[str, object] = {}
        if index % 2 == 0:
            cycle, which = divmod(index // 2, len(HOSTILE_TITLES))
            changes["title"] = HOSTILE_TITLES[which] + (f" {cycle + 1}" if cycle else "")
        abstract = entry.abstract
        if abstract is not None and index % 3 == 0:
            abstract = f"{_HOSTILE_PREFIX} {abstract}"
        if abstract is not None and index % 5 == 0:
            repeats = (9_000 - len(abstract)) // (len(_LONG_FILLER) + 1)
            abstract = " ".join([_LONG_FILLER] * max(repeats, 0) + [abstract])
        changes["abstract"] = abstract
        if index % 4 == 0 and entry.authors:
            changes["authors"] = tuple(HOSTILE_AUTHORS[i % len(HOSTILE_AUTHORS)] for i in range(len(entry.authors)))
        out.append(dataclasses.replace(entry, **changes))  # type: ignore[arg-type]
    return tuple(out)


def _hex_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def _junk(tag: str) -> dict[str, object]:
    return {"x_unknown": {"nested": [1, "two", None, {"deep": [True, 3.5]}], "tag": tag}, "x_flag": None}


def _api_item(
    entry: Entry, page_date: datetime.date, position: int, variant: ApiVariant, clock: str
) -> dict[str, object]:
    arxiv = entry.arxiv_id or ""
    paper: dict[str, object] = {}
    if entry.arxiv_id is not None:
        paper["id"] = entry.arxiv_id
    optional_paper: dict[str, object] = {
        "authors": [
            {
                "_id": _hex_id(arxiv, name),
                "name": name,
                "hidden": False,
                **(_junk("author") if variant.extra_fields else {}),
            }
            for name in entry.authors
        ],
    }
    if entry.published_on is not None:
        optional_paper["publishedAt"] = f"{entry.published_on.isoformat()}T{clock}.000Z"
    paper["title"] = entry.title
    if entry.abstract is not None:
        optional_paper["summary"] = entry.abstract
    if entry.upvotes is not None:
        optional_paper["upvotes"] = entry.upvotes
    if entry.api_github_repo is not None:
        optional_paper["githubRepo"] = entry.api_github_repo
    optional_item: dict[str, object] = {
        "publishedAt": f"{page_date.isoformat()}T{clock}.000Z",
        "numComments": entry.n_comments,
    }
    if entry.org_handle is not None and variant.organizations:
        optional_item["organization"] = {
            "_id": _hex_id(entry.org_handle),
            "name": entry.org_handle,
            "fullname": entry.org_name,
            **(_junk("org") if variant.extra_fields else {}),
        }
    if variant.strips(position):
        optional_paper, optional_item = {}, {}
    elif variant.nulls(position):
        names = ("authors", "publishedAt", "summary", "upvotes", "githubRepo")
        optional_paper = dict.fromkeys(names)
        optional_item = dict.fromkeys(("publishedAt", "numComments", "organization"))
    paper.update(optional_paper)
    paper["discussionId"] = _hex_id("discussion", arxiv)
    item: dict[str, object] = {"paper": paper}
    item.update(optional_item)
    item["title"] = entry.title
    item["thumbnail"] = f"https://cdn-thumbnails.huggingface.co/social-thumbnails/papers/{arxiv}.png"
    item["submittedBy"] = {"_id": _hex_id("user", arxiv), "name": "akhaliq", "type": "user", "isPro": False}
    item["isAuthorParticipating"] = False
    if variant.extra_fields:
        paper.update(_junk("paper"))
        item.update(_junk("item"))
        item["mediaUrls"] = None
    return item


def render_api(page_date: datetime.date, entries: Sequence[Entry], variant: ApiVariant = ApiVariant()) -> bytes:
    """Render a page as the daily-papers API's JSON array (UTF-8, not ASCII-escaped).

    The times of day come from a RNG seeded by the page date only, so the bytes are
    deterministic.  An entry's ``None`` values are absent fields (see the module docstring).
    """
    rng = random.Random(f"render-api:{page_date.isoformat()}")
    items = []
    for position, entry in enumerate(entries, start=1):
        clock = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
        items.append(_api_item(entry, page_date, position, variant, clock))
    separators = (",", ":") if variant.indent is None else (",", ": ")
    text = json.dumps(items, ensure_ascii=False, indent=variant.indent, separators=separators)
    return text.encode("utf-8")


# --- vocabulary (all invented) -----------------------------------------------------------------

_FIELDS: tuple[tuple[str, str, str], ...] = (
    # (field, task, kind of data)
    ("Video understanding", "long-form video question answering", "video clips"),
    ("Speech recognition", "low-resource speech transcription", "spoken utterances"),
    ("Robot manipulation", "dexterous in-hand reorientation", "teleoperated demonstrations"),
    ("Text-to-image generation", "compositional image synthesis", "captioned images"),
    ("Protein modelling", "binding-site prediction", "protein structures"),
    ("Weather forecasting", "medium-range precipitation nowcasting", "reanalysis fields"),
    ("Language modelling", "long-context reasoning", "web documents"),
    ("Program synthesis", "code generation from natural language", "programming problems"),
    ("Autonomous driving", "multi-agent trajectory forecasting", "driving logs"),
    ("Medical imaging", "lesion segmentation in CT scans", "annotated scans"),
    ("3D reconstruction", "novel view synthesis from sparse views", "multi-view captures"),
    ("Recommender systems", "sequential next-item recommendation", "interaction histories"),
    ("Graph learning", "molecular property regression", "molecular graphs"),
    ("Reinforcement learning", "offline policy improvement", "logged trajectories"),
    ("Information retrieval", "multilingual passage ranking", "query-passage pairs"),
    ("Music generation", "controllable accompaniment generation", "symbolic scores"),
    ("Document understanding", "chart question answering", "scanned reports"),
    ("Software engineering agents", "automated program repair", "issue reports"),
    ("Remote sensing", "change detection in satellite imagery", "multispectral tiles"),
    ("Dialogue systems", "persona-consistent response generation", "conversation logs"),
)
_TRENDS = (
    "large pretrained transformers",
    "diffusion models",
    "instruction-tuned language models",
    "self-supervised pretraining",
    "mixture-of-experts architectures",
    "state-space sequence models",
    "vision-language foundation models",
    "reinforcement learning from feedback",
)
_CHALLENGES = (
    "their cost grows quickly with input length",
    "they remain brittle under distribution shift",
    "they require large amounts of labelled data",
    "their predictions are hard to interpret",
    "they struggle to generalise beyond the training domain",
    "they are difficult to deploy on commodity hardware",
    "their evaluation remains inconsistent across studies",
)
_LIMITATIONS = (
    "Prior methods rely on hand-crafted heuristics that do not transfer across settings",
    "Existing approaches treat each stage independently and accumulate errors",
    "Current systems assume clean inputs and degrade sharply on noisy ones",
    "Most previous work optimises a proxy objective that correlates poorly with quality",
    "Earlier solutions scale quadratically with the number of elements they process",
    "Standard pipelines discard fine-grained structure that matters for the task",
)
_CONSEQUENCES = (
    "which limits their use in practice",
    "which leads to unstable training",
    "which makes them expensive to adapt",
    "which hides failure modes until deployment",
    "which prevents fair comparison between methods",
)
_ADJECTIVES = (
    "lightweight",
    "scalable",
    "training-free",
    "modular",
    "unified",
    "hierarchical",
    "adaptive",
    "sparse",
    "contrastive",
    "probabilistic",
    "curriculum-based",
    "retrieval-augmented",
)
_METHODS = (
    "framework",
    "architecture",
    "objective",
    "pretraining recipe",
    "decoding strategy",
    "routing mechanism",
    "data curation pipeline",
    "alignment method",
    "tokenizer",
    "memory module",
)
_MECHANISMS = (
    "decomposes the problem into a sequence of verifiable sub-goals",
    "learns a compact latent representation shared across modalities",
    "reweights training examples according to their estimated difficulty",
    "caches intermediate states and reuses them across related queries",
    "distils a large teacher into a student with a fraction of the parameters",
    "aligns intermediate features with a small set of anchor prototypes",
    "predicts its own uncertainty and defers hard cases to a slower expert",
    "mixes synthetic and real samples with a learned schedule",
)
_FEATURES = (
    "{name} requires no additional labels and can be attached to existing models.",
    "Unlike previous designs, {name} keeps memory constant as the input grows.",
    "{name} introduces a consistency term that stabilises optimisation at large batch sizes.",
    "A lightweight gating network lets {name} skip computation on easy inputs.",
    "{name} is trained end to end with a single objective and a handful of hyperparameters.",
    "We pair {name} with a simple calibration step that corrects systematic bias.",
    "To scale {name}, we shard its state across devices with negligible overhead.",
    "{name} exposes interpretable intermediate outputs that practitioners can inspect.",
    "Its components are modular, so each one can be replaced without retraining the others.",
    "{name} reuses cached intermediate results, which removes most of the redundant computation.",
    "A curriculum over task difficulty lets {name} converge in a fraction of the usual steps.",
    "We derive a bound on the error of {name} that tightens as more unlabeled data becomes available.",
    "{name} degrades gracefully when parts of the input are missing or corrupted.",
    "The same weights of {name} serve several tasks, selected by a short natural-language prompt.",
)
_ANALYSES = (
    "We further analyse which components matter most through extensive ablations.",
    "We also study how performance changes with model size and training budget.",
    "A qualitative study reveals the failure cases that remain open.",
    "We additionally characterise the trade-off between accuracy and latency.",
    "Our analysis shows that gains are largest on the hardest examples.",
    "We report variance over several random seeds and release the full evaluation protocol.",
    "Human raters prefer the outputs of our approach in a blind side-by-side comparison.",
    "Results hold across languages, domains and input lengths that were unseen during training.",
)
_BENCHMARK_KINDS = ("benchmarks", "evaluation suites", "datasets", "held-out test sets")
_RESULTS = (
    "outperforms strong baselines by {gain} points on average",
    "matches the quality of much larger systems at {factor}x lower cost",
    "sets a new state of the art while using {factor}x fewer parameters",
    "reduces error by {gain}% relative to the previous best method",
    "improves robustness under corruption by {gain} points",
)
_CLOSINGS = (
    "These results suggest a practical path towards more reliable systems.",
    "We hope our findings encourage more careful evaluation in this area.",
    "Our study highlights simple design choices that are often overlooked.",
    "Together, these results challenge common assumptions about scaling.",
)
_TITLE_TEMPLATES = (
    "{name}: {Adj} {Method} for {Task}",
    "{name}: Towards {Adj} {Task}",
    "{Adj} {Method}s Make {Task} Easier",
    "Rethinking {Task} with {Adj} {Method}s",
    "{name}: Scaling {Task} with {Trend}",
    "When {Trend} Meet {Task}: The {name} Study",
    "{name} - {Adj} and Efficient {Task}",
    "Learning {Task} from {Data} with {name}",
)
_SYLLABLES = (
    "ka", "lo", "mi", "ne", "ru", "sa", "te", "vo", "zi", "da",
    "fe", "go", "hu", "ji", "pa", "qu", "ri", "so", "tu", "wa",
)  # fmt: skip
_ORGS = (
    ("aurora-lab", "Aurora Lab"),
    ("nimbus-ai", "Nimbus AI"),
    ("quillmind", "QuillMind"),
    ("tessellate", "Tessellate Research"),
    ("harbor-ml", "Harbor ML"),
    ("fjordnlp", "FjordNLP"),
    ("copperleaf", "Copperleaf"),
    ("stellarvision", "Stellar Vision Group"),
)
_OWNERS = ("aurora-lab", "vcl-group", "mlsys-uni", "kappa-research", "dfm-team", "lowrank")

# Code sentences: each one expresses exactly its status under orchestration.parse.code_links.
_REPOSITORY_SENTENCES = (
    "Code is available at {url}.",
    "Our code and models are publicly available at {url}.",
    "Code: {url}",
    "The source code will be released at {url}.",
    "All code, data and checkpoints can be found at {url}.",
    "Project page: {page}. Code: {url}.",
    "We release our implementation at {url}.",
)
_CLAIMED_SENTENCES = (
    "Our implementation is publicly available.",
    "Code is available at {page}.",
    "Code: {short}",
    "We release our code and pretrained models to the community.",
    "The source code has been released on the project page {page}.",
    "Our code is open-sourced to support future research.",
)
_PROMISED_SENTENCES = (
    "Code and data will be made publicly available.",
    "We will release our code upon acceptance.",
    "The implementation will be open-sourced.",
    "Code will be available at {page}.",
    "Project page: {page}. The code will be released soon.",
    "Our source code and models will be publicly released.",
)
_NONE_SENTENCES = (
    "",
    "",
    "Models are released on {hf}.",
    "We release the dataset to the community.",
    "Project page: {page}.",
    "Model weights are available at {hf}.",
)
_REPOSITORY_URLS = (
    (60, "https://github.com/{owner}/{repo}"),
    (5, "github.com/{owner}/{repo}"),
    (3, "www.github.com/{owner}/{repo}"),
    (6, "https://gitlab.com/{owner}/{repo}"),
    (3, "https://bitbucket.org/{owner}/{repo}"),
    (3, "https://codeberg.org/{owner}/{repo}"),
    (4, "https://gitee.com/{owner}/{repo}"),
    (2, "https://sourceforge.net/projects/{repo}"),
    (2, "https://git.sr.ht/~{owner}/{repo}"),
    (4, "https://anonymous.4open.science/r/{repo}-{tag}"),
)
_STATUS_WEIGHTS = (("repository", 35), ("claimed", 15), ("promised", 15), ("none", 35))


def normalise_title(title: str) -> str:
    """NFKC + casefold + runs of non-alphanumerics -> one space (the shared title key)."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return re.sub(r"[\W_]+", " ", folded).strip()


# --- papers and schedule -----------------------------------------------------------------------


@dataclass
class _Paper:
    title: str
    abstract: str | None
    n_authors: int | None
    org: tuple[str, str] | None
    published_on: datetime.date
    code_status: str
    code_url: str | None
    upvotes: int
    last_day: int = 0
    arxiv_id: str | None = None
    authors: tuple[str, ...] = ()
    n_comments: int = 0
    api_github_repo: str | None = None


@dataclass
class _State:
    rng: random.Random
    start: datetime.date
    layout_b_share: float
    seed: int = 0
    titles: set[str] = field(default_factory=set)
    papers: dict[int, _Paper] = field(default_factory=dict)
    schedule: dict[int, list[int]] = field(default_factory=dict)
    next_id: int = 0


def _pick_weighted(rng: random.Random, options: Sequence[tuple[int, str]]) -> str:
    total = sum(weight for weight, _ in options)
    point = rng.uniform(0, total)
    for weight, value in options:
        point -= weight
        if point <= 0:
            return value
    return options[-1][1]


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
    return word.capitalize() if rng.random() < 0.6 else word.upper()[:5]


def _title(rng: random.Random, name: str, field_row: tuple[str, str, str]) -> str:
    _, task, data = field_row
    template = rng.choice(_TITLE_TEMPLATES)
    return template.format(
        name=name,
        Adj=rng.choice(_ADJECTIVES).title(),
        Method=rng.choice(_METHODS).title(),
        Task=task.title(),
        Trend=rng.choice(_TRENDS).title(),
        Data=data.title(),
    )


def _code_sentence(rng: random.Random, status: str, name: str) -> tuple[str, str | None]:
    slug = name.lower() + rng.choice(("", "-" + rng.choice(("core", "dev", "release", "v2"))))
    owner = rng.choice(_OWNERS)
    page = f"https://{owner}.github.io/{slug}"
    values = {
        "page": page,
        "short": f"https://bit.ly/{slug[:3]}{rng.randint(100, 999)}",
        "hf": f"huggingface.co/{owner}/{slug}-{rng.choice(('base', 'large', '7b'))}",
    }
    url: str | None = None
    if status == "repository":
        url = _pick_weighted(rng, _REPOSITORY_URLS).format(owner=owner, repo=slug, tag=f"{rng.randint(0, 0xFFFF):04X}")
        values["url"] = url
        template = rng.choice(_REPOSITORY_SENTENCES)
    elif status == "claimed":
        template = rng.choice(_CLAIMED_SENTENCES)
    elif status == "promised":
        template = rng.choice(_PROMISED_SENTENCES)
    else:
        template = rng.choice(_NONE_SENTENCES)
    return template.format(**values), url


def _abstract(rng: random.Random, name: str, field_row: tuple[str, str, str], code: str) -> str:
    field_name, task, data = field_row
    # Real abstracts run from about 1,370 to 1,920 characters, median about 1,550, skewed long.
    target = int(rng.triangular(1370, 1920, 1450)) - len(code)
    first = [
        f"{field_name} has advanced rapidly with the rise of {rng.choice(_TRENDS)}, yet {rng.choice(_CHALLENGES)}.",
        f"{rng.choice(_LIMITATIONS)}, {rng.choice(_CONSEQUENCES)}.",
        f"In this work, we introduce {name}, a {rng.choice(_ADJECTIVES)} "
        f"{rng.choice(_METHODS)} for {task} that {rng.choice(_MECHANISMS)}.",
    ]
    pool = [feature.format(name=name) for feature in _FEATURES]
    rng.shuffle(pool)
    pool += list(_ANALYSES)
    result = rng.choice(_RESULTS).format(gain=rng.randint(2, 19), factor=rng.randint(2, 9))
    tail = [
        f"Experiments on {rng.randint(3, 12)} {rng.choice(_BENCHMARK_KINDS)} of {data} show that {name} {result}.",
        rng.choice(_CLOSINGS),
    ]
    sentences = first
    length = sum(len(s) + 1 for s in first + tail)
    for sentence in pool:
        if length >= target:
            break
        sentences.append(sentence)
        length += len(sentence) + 1
    sentences += tail
    if code:
        sentences.append(code)
    return " ".join(sentences)


def _new_paper(state: _State, day: int) -> int:
    rng = state.rng
    field_row = rng.choice(_FIELDS)
    while True:
        name = _name(rng)
        title = _title(rng, name, field_row)
        key = normalise_title(title)
        if key not in state.titles:
            state.titles.add(key)
            break
    status = _pick_weighted(rng, [(w, s) for s, w in _STATUS_WEIGHTS])
    code, url = _code_sentence(rng, status, name)
    abstract: str | None = _abstract(rng, name, field_row, code)
    if rng.random() < 0.03:
        abstract = None  # layout B only: title followed directly by the metadata block
    page_date = state.start + datetime.timedelta(days=day)
    age = rng.randint(0, 14) if rng.random() < 0.7 else rng.randint(15, 2000)
    org = rng.choice(_ORGS) if rng.random() < 0.3 else None
    paper = _Paper(
        title=title,
        abstract=abstract,
        n_authors=None if org else rng.randint(1, 40),
        org=org,
        published_on=page_date - datetime.timedelta(days=age),
        code_status=status if abstract is not None else "none",
        code_url=url if abstract is not None else None,
        upvotes=0 if rng.random() < 0.2 else rng.randint(1, 60),
    )
    paper_id = state.next_id
    state.next_id += 1
    _add_api_facts(paper, state.seed, paper_id)
    state.papers[paper_id] = paper
    # trending run, sometimes a later comeback
    days = list(range(day, day + rng.randint(1, 5)))
    if rng.random() < 0.25:
        comeback = days[-1] + rng.randint(7, 60)
        days += list(range(comeback, comeback + rng.randint(1, 2)))
    for scheduled in days:
        state.schedule.setdefault(scheduled, []).append(paper_id)
    paper.last_day = days[-1]
    return paper_id


_ARXIV_STRIDE = 7_919  # prime, so coprime with 100,000: number -> NNNNN is a bijection mod 100,000


def _add_api_facts(paper: _Paper, seed: int, number: int) -> None:
    """Give ``paper`` its API-only facts from a RNG of its own (the text stream stays untouched)."""
    rng = random.Random(f"api:{seed}:{number}")
    offset = random.Random(f"arxiv:{seed}").randrange(100_000)
    paper.arxiv_id = f"{paper.published_on:%y%m}.{(number * _ARXIV_STRIDE + offset) % 100_000:05d}"
    count = paper.n_authors if paper.n_authors is not None else rng.randint(1, 12)
    paper.authors = tuple(
        f"{_name(rng).capitalize()} {rng.choice(('', _name(rng)[0].upper() + '. '))}{_name(rng).capitalize()}"
        for _ in range(count)
    )
    paper.n_comments = 0 if rng.random() < 0.5 else rng.randint(1, 25)
    on_github = re.search(r"github\.com/([^/\s]+)/([^/\s]+)", paper.code_url or "")
    if paper.code_status == "repository" and on_github is not None:
        if rng.random() < 0.6:  # the API links the repository the abstract names
            paper.api_github_repo = f"https://github.com/{on_github.group(1)}/{on_github.group(2)}"
    elif paper.code_url is None and rng.random() < 0.1:  # only the API knows the repository
        slug = normalise_title(paper.title).split(" ")[0] or "code"
        paper.api_github_repo = f"https://github.com/{rng.choice(_OWNERS)}/{slug}-{rng.choice(('src', 'official'))}"


def _sighting(state: _State, paper: _Paper, page_date: datetime.date, first: bool) -> Entry:
    rng = state.rng
    if not first:
        paper.upvotes += rng.randint(0, 40)
    layout: Literal["A", "B"] = "B" if paper.abstract is None or rng.random() < state.layout_b_share else "A"
    if layout == "A":
        return Entry(
            title=paper.title,
            abstract=paper.abstract,
            layout="A",
            code_status=paper.code_status,
            code_url=paper.code_url,
            **_api_fields(paper),
        )
    return Entry(
        title=paper.title,
        abstract=paper.abstract,
        layout="B",
        n_authors=paper.n_authors,
        org_handle=paper.org[0] if paper.org else None,
        org_name=paper.org[1] if paper.org else None,
        published_on=paper.published_on,
        show_year=paper.published_on.year != page_date.year,
        upvotes=paper.upvotes or None,
        code_status=paper.code_status,
        code_url=paper.code_url,
        **_api_fields(paper),
    )


def _api_fields(paper: _Paper) -> dict[str, Any]:
    return {
        "arxiv_id": paper.arxiv_id,
        "authors": paper.authors,
        "n_comments": paper.n_comments,
        "api_github_repo": paper.api_github_repo,
    }


def generate_dumps(
    days: int,
    papers_per_day: int,
    *,
    seed: int = 0,
    start: datetime.date = DEFAULT_START,
    layout_b_share: float = 0.5,
) -> Iterator[SyntheticDump]:
    """Yield ``days`` consecutive daily dumps of ``papers_per_day`` distinct papers each.

    A generator on purpose: a ten-year corpus is written file by file without holding it.
    At most ~80 % of a day's slots go to papers already trending, so fresh papers keep coming.
    """
    if days < 0 or papers_per_day < 0:
        raise ValueError("days and papers_per_day must be non-negative")
    if not 0.0 <= layout_b_share <= 1.0:
        raise ValueError("layout_b_share must be within [0, 1]")
    state = _State(rng=random.Random(seed), start=start, layout_b_share=layout_b_share, seed=seed)
    returning_cap = papers_per_day - max(1, papers_per_day // 5)
    for day in range(days):
        page_date = start + datetime.timedelta(days=day)
        due = list(dict.fromkeys(state.schedule.pop(day, [])))
        scheduled, dropped = due[: max(returning_cap, 0)], due[max(returning_cap, 0) :]
        for pid in dropped:  # no room today; forget it if it had no later sighting
            if state.papers[pid].last_day <= day:
                del state.papers[pid]
        chosen = [(pid, False) for pid in scheduled]
        while len(chosen) < papers_per_day:
            chosen.append((_new_paper(state, day), True))
        state.rng.shuffle(chosen)
        entries = tuple(_sighting(state, state.papers[pid], page_date, first) for pid, first in chosen)
        for pid, _ in chosen:
            if state.papers[pid].last_day <= day:
                del state.papers[pid]  # never scheduled again
        yield SyntheticDump(file_name=f"{page_date.isoformat()}.txt", page_date=page_date, entries=entries)
    # forget anything still scheduled beyond the horizon
    state.papers.clear()
    state.schedule.clear()


def write_dumps(
    raw_dir: Path,
    dumps: Iterable[SyntheticDump],
    *,
    overwrite: bool = False,
    style: RenderStyle = RenderStyle(),
    output_format: OutputFormat = "text",
    api_variant: ApiVariant = ApiVariant(),
) -> list[Path]:
    """Write each dump to ``raw_dir/<file_name>`` atomically; return the paths in order.

    ``output_format``: ``text`` (``<date>.txt`` rendered with ``style``), ``api_json``
    (``<date>.json`` rendered with ``api_variant``) or ``mixed`` (every third dump -- the 3rd,
    6th... -- as API JSON, the others as text), so one run can feed both parsers.

    An existing file with identical bytes is left alone (idempotent); one with different bytes
    raises ``FileExistsError`` unless ``overwrite`` -- generated data never silently replaces a
    real dump.  Writes go through a temporary file and ``os.replace`` so readers never see a
    half-written dump.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {output_format!r}")
    for index, dump in enumerate(dumps):
        as_api = output_format == "api_json" or (output_format == "mixed" and index % 3 == 2)
        path = raw_dir / (dump.api_file_name if as_api else dump.file_name)
        data = dump.render_api(api_variant) if as_api else dump.render(style)
        if path.exists():
            if path.read_bytes() == data:
                written.append(path)
                continue
            if not overwrite:
                raise FileExistsError(
                    f"{path} exists with different content; refusing to overwrite (use --force / overwrite=True)"
                )
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="python -m tests.synthetic", description="Write synthetic daily dumps.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--papers-per-day", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=datetime.date.fromisoformat, default=None)
    parser.add_argument("--force", action="store_true", help="overwrite differing files")
    parser.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="text",
        dest="output_format",
        help="text dumps (default), API JSON dumps, or mixed (every third day as API JSON)",
    )
    args = parser.parse_args(argv)
    start: datetime.date = args.start or DEFAULT_START
    dumps = generate_dumps(args.days, args.papers_per_day, seed=args.seed, start=start)
    try:
        paths = write_dumps(args.out_dir, dumps, overwrite=args.force, output_format=args.output_format)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(paths)} dumps to {args.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
