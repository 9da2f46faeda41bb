"""Where does a paper's code live? URL extraction and code-availability status from abstracts.

Pure: imports Polars and the standard library only, so the parser can use it without pulling in
Dagster or DuckDB.  Everything is a *vectorised* Polars expression (regex ``extract_all``,
``contains``, ``replace_all``, list ops and ``when/then``) -- no per-row Python -- because it runs
over every abstract ever sighted (hundreds of thousands of rows per rebuild).

``code_link_columns(abstract)`` returns three expressions:

``urls`` (List[String])
    Every URL in the abstract, in order of appearance.  ``http(s)://`` and ``www.`` URLs count,
    and so do scheme-less mentions of known hosts (``github.com/owner/repo``,
    ``huggingface.co/...``, ``foo.github.io``) because authors often drop the scheme.  Trailing
    sentence punctuation (``. , ; : ! ? ' " *``) is stripped; brackets end a URL unless they are
    balanced inside it (``(https://x.org/a)`` -> ``https://x.org/a``, but
    ``https://en.wikipedia.org/wiki/A_(b)`` keeps its ``(b)``).  A null abstract gives ``[]``.

``code_url`` (String)
    The first URL that points at a *source repository*: ``github.com/<owner>/<repo>``,
    ``gitlab.com/<ns>/<repo>``, ``bitbucket.org``, ``codeberg.org``, ``gitee.com`` (owner and
    repo required), ``sourceforge.net/projects/<p>``, ``git.sr.ht/~<user>/<repo>`` and
    ``anonymous.4open.science/r/<id>`` (the double-blind mirror).  Deliberately *not*
    repositories: ``*.github.io`` (a rendered project page, which may or may not host code),
    ``github.com/<owner>`` without a repo (a profile), GitHub's own pages (``/topics``,
    ``/orgs``...), Hugging Face (weights and data, not source) and short links (we cannot see
    where they go).  Self-hosted GitLab instances are not recognised: the host list is explicit
    so that the rule is auditable (see ``REPOSITORY_HOSTS``).

``code_status`` (String, never null), one of ``contract.CODE_STATUSES``, decided in this order:

1. ``repository`` -- a repository URL is present, *whatever the tense* around it: a link that
   already resolves to a repository ("will be available at https://github.com/x/y") is the
   strongest evidence we have, and repositories are usually created before the paper is out.
   A GitHub link to a survey's reading list ("awesome-..." repos) also counts: we classify the
   *link*, not the content, and cannot tell a paper list from a code base from the URL alone.
2. ``claimed`` -- no repository URL, but a present- or past-tense statement that the paper's
   code / implementation / source code / software / tools / scripts are available, released,
   public, open-sourced, hosted, shared... ("Our implementation is publicly available",
   "We release our code and models", "Code: https://bit.ly/x", "source code is available at
   <project page>").  The link, if any, is not a repository we recognise.
3. ``promised`` -- no repository URL and no present claim, but a future one: will / shall /
   to be / upon acceptance / coming soon ("Code and data will be made publicly available").
   A present claim wins over a promise in the same abstract ("code is available; models will
   follow") because something can already be fetched.
4. ``none`` -- everything else.  In particular releasing only models, weights, checkpoints or
   datasets ("Models are released on huggingface.co/...") is *not* code, and papers *about*
   code ("we study code generation", "code LLMs", "software engineering agents") are not
   claims: such topic phrases are masked before the availability patterns run.

Sentence-level patterns never look across a sentence boundary: the windows between the noun
("code") and the verb ("available") are ``[^.;!?]{0,N}``, and URLs are replaced by a token
first, so the dots inside a URL neither end a sentence nor leak words ("/code") into it.
Known limitations (accepted for simplicity and speed): negations ("code is not available")
are not detected, "available upon request" is deliberately ``none``, and abbreviations like
"e.g." end a window early (which only makes the rules more conservative).
"""

from __future__ import annotations

import re

import polars as pl

_OWNER_REPO_HOSTS = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitee.com")
"""Hosts whose repositories live at ``<host>/<owner>/<repo>``."""
REPOSITORY_HOSTS: tuple[str, ...] = (*_OWNER_REPO_HOSTS, "sourceforge.net", "git.sr.ht", "anonymous.4open.science")
"""Hosts whose URLs can be a source repository (with the path shape described above)."""
_MODEL_HOSTS = ("huggingface.co", "hf.co")
"""Not repositories, but mentioned without a scheme just as often."""


def _any_of(hosts: tuple[str, ...]) -> str:
    return "|".join(re.escape(host) for host in hosts)


# --- URLs -----------------------------------------------------------------------------------

# URL body: printable ASCII except whitespace, quotes, backtick and brackets; a bracket pair is
# allowed when balanced inside the URL.
_URL_CHAR = r"[!#$%&*+,\-./0-9:;=?@A-Z\\^_a-z|~]"
_URL_BODY = rf"(?:{_URL_CHAR}|\({_URL_CHAR}*\))"
_BARE_HOSTS = _any_of((*REPOSITORY_HOSTS, *_MODEL_HOSTS))
URL_PATTERN = (
    r"(?i)"
    rf"(?:https?://|\bwww\.){_URL_BODY}+"  # explicit scheme or www.
    rf"|\b(?:[a-z0-9-]+\.)*(?:{_BARE_HOSTS})/{_URL_BODY}*"  # scheme-less known host + path
    rf"|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.github\.io\b{_URL_BODY}*"  # scheme-less project page
)
"""Regex for one URL occurrence (before trailing-punctuation stripping)."""

_TRAILING_PUNCTUATION = ".,;:!?'\"*"
_HAS_HOST = r"^(?:[a-z][a-z0-9+.-]*://)?[^/]*[a-z0-9-]\.[a-z]"

# --- repositories ---------------------------------------------------------------------------

_SEG = r"[a-z0-9_.\-]+"
REPOSITORY_URL_PATTERN = (
    r"(?i)^(?:https?://)?(?:www\.)?(?:"
    rf"(?:{_any_of(_OWNER_REPO_HOSTS)})/{_SEG}/[a-z0-9_\-]"
    rf"|sourceforge\.net/(?:projects|p)/[a-z0-9_\-]"
    rf"|[a-z0-9\-]+\.sourceforge\.(?:net|io)(?:/|$)"
    rf"|git\.sr\.ht/~{_SEG}/[a-z0-9_\-]"
    rf"|anonymous\.4open\.science/r/[a-z0-9_\-]"
    r")"
)
"""A URL whose path has the shape of a repository on one of ``REPOSITORY_HOSTS``."""

# GitHub paths with owner/x shape that are site pages, not repositories.
_NOT_REPOSITORY_PATTERN = (
    r"(?i)^(?:https?://)?(?:www\.)?github\.com/(?:orgs|topics|sponsors|marketplace|features"
    r"|settings|about|collections|trending|explore|login|apps|enterprise|pricing|search|users"
    r"|site|security|customer-stories|readme)/"
)

# --- status phrases -------------------------------------------------------------------------

_LINK = "LINKTOKEN"
_FUTURE = "FUTURENOUN"
_TOPIC = "CODETOPIC"

# Things whose availability makes a paper "have code".
_NOUN = (
    r"(?:source[ -]?codes?|codes?|code[ -]?bases?|implementations?|software|tool[ -]?kits?"
    r"|tool[ -]?box(?:es)?|tools?|scripts?|simulators?"
    r"|(?:python|software|pip)\s+(?:library|package)|(?:github|gitlab|code|git)\s+repo(?:sitor(?:y|ies)|s)?)"
)

# Phrases where those nouns name the *topic* of the paper; masked before matching.
_TOPIC_PATTERN = (
    r"(?i)\b(?:"
    r"(?:source[ -]?)?codes?[ -](?:generation|generators?|generating|completion|llms?"
    r"|language[ -]models?|models?|review|repair|search|synthesis|understanding|editing|edits?"
    r"|reasoning|agents?|tasks?|benchmarks?|snippets?|translation|summarization|intelligence"
    r"|quality|smells?|clones?|comments?|changes?|pre-?training|corpora|corpus|tokens?"
    r"|execution|interpreters?|retrieval|documentation|comprehension|optimization"
    r"|vulnerabilit\w*|security|analysis|domains?|problems?|solutions?|instructions?"
    r"|instruction-\w+|switch\w*|mix\w*|books?|words?|writing|refinement|debugging|embeddings?"
    r"|representations?|authors?|datasets?|competitions?|contests?|capabilit\w*|skills?|related"
    r"|centric|based|aware|specific|oriented|level|focused|free)"
    r"|(?:pseudo[ -]?|no[ -]|low[ -]|zero[ -])codes?"
    r"|(?:generated|synthesized|buggy|vulnerable|malicious|human-written|llm-generated"
    r"|machine-generated|ai-generated|model-generated|candidate|student|legacy)\s+codes?"
    r"|software[ -](?:engineering|engineers?|development|developers?|vulnerabilit\w*|bugs?"
    r"|systems?|projects?|issues?|testing|agents?|maintenance|supply|repositor\w*|ecosystems?)"
    r"|tools?[ -](?:use|using|usage|calling|calls?|learning|augmented|invocation|integrated"
    r"|integration|retrieval|selection|agents?|libraries|environments?)"
    r"|(?:use|using|call|calling|invoke|invoking)\s+(?:external\s+)?tools?"
    r"|implementation\s+details?"
    r"|codes?\s+(?:and|&)\s+(?:natural[ -]language|text|prose|math)"
    r")\b"
)

# A code noun (possibly coordinated: "code and pretrained models") followed by a future marker.
_FUTURE_NOUN_PATTERN = (
    rf"(?i)\b{_NOUN}"
    r"(?:(?:\s*,\s*|\s*&\s*|\s*/\s*|\s+and\s+|\s+as\s+well\s+as\s+)"
    r"(?:the\s+|our\s+|all\s+|pre-?trained\s+)?[\w-]+(?:\s+[\w-]+)?)*,?\s+"
    r"(?:will|shall|would|is\s+going\s+to|are\s+going\s+to|is\s+to\s+be|are\s+to\s+be|to\s+be"
    r"|is\s+planned|are\s+planned|is\s+expected|are\s+expected|is\s+coming|are\s+coming"
    r"|coming)\b"
)

_W = r"[^.;!?]"  # a character that stays inside the sentence
# "available" only counts when followed by where/how (or the end of the clause), so that
# "tools are available to the agent" is not a release statement.
_AVAILABLE_HERE = (
    r"(?:available|accessible)"
    r"(?:\s+(?:at|on|in|from|via|here|online|under|through|for|as|with|and|along|together"
    rf"|to\s+(?:the\s+)?(?:public|community|research|researchers))\b|\s*[.,;:!?(\-]|\s*$|\s+{_LINK})"
)
_AVAILABLE = (
    rf"(?:{_AVAILABLE_HERE}"
    r"|released|public|open[- ]?sourced?|hosted|provided|shared|published|online|included"
    r"|attached|distributed|downloadable)"
)
_AUX = (
    r"(?:is|are|was|were|has\s+been|have\s+been|'s|is\s+now|are\s+now|has\s+now\s+been"
    r"|have\s+now\s+been|gets|get|got)"
)
_CONNECTOR = (
    r"(?:\s*(?:,|&|/|\()|\s+(?:and|or|for|of|to|used|needed|behind|accompanying|associated"
    r"|along|together|from|in|with|that|which|developed|written|implemented|described|proposed"
    r"|presented|introduced|built|required|implementing|reproducing|supporting|underlying)\b)"
)

_CLAIMED_STRICT_PATTERN = (
    r"(?i)"
    # "<noun> [and models] is/are [publicly] available/released/..."
    rf"\b{_NOUN}(?:{_CONNECTOR}{_W}{{0,60}}?)?,?\s+{_AUX}\s+(?:[\w-]+\s+){{0,2}}?{_AVAILABLE}"
    rf"|\b{_NOUN}(?:{_CONNECTOR}{_W}{{0,60}}?)?,?\s+{_AUX}\s+(?:at|here|on\s+github|on\s+gitlab)\b"
    rf"|\b{_NOUN}(?:{_CONNECTOR}{_W}{{0,60}}?)?,?\s+can\s+be\s+(?:found|accessed|downloaded"
    r"|obtained|retrieved)\b"
    # "we [have] release/open-source/publish/share ... <noun>"
    r"|\bwe\s+(?:(?:have|also|further|hereby|now|additionally|publicly|fully|openly)\s+)*"
    r"(?:release[sd]?|open[- ]?source[sd]?|publish(?:ed)?|share[sd]?|distribute[sd]?)\b"
    rf"[^.;:!?]{{0,60}}?\b{_NOUN}\b"
    # "we provide [our|the|open-source] <noun>"
    r"|\bwe\s+(?:(?:have|also|further|additionally)\s+)*provided?\s+"
    rf"(?:(?:our|the|all|open-source|open\s+source|full|complete|public|an?|reference)\s+){{0,3}}"
    rf"{_NOUN}\b"
    # "we make ... <noun> ... [publicly] available/public/open source"
    rf"|\bwe\s+(?:(?:have|also)\s+)*(?:make|made)\b[^.;:!?]{{0,40}}?\b{_NOUN}\b"
    r"[^.;:!?]{0,40}?\b(?:available|public|accessible|open[- ]?source)"
)

_PROMISED_PATTERN = (
    r"(?i)"
    # "<noun> ... will/shall/to be ... available/released/..."
    rf"\b{_NOUN}\b{_W}{{0,60}}?\b(?:will|shall|would|going\s+to|to\s+be|planned\s+to"
    r"|expected\s+to|once)\b"
    rf"{_W}{{0,40}}?\b(?:available|release[sd]?|public|publicly|open[- ]?source[sd]?|shared?"
    r"|published|publish|provided|provide|online|accessible|made|hosted|host|opened)\b"
    # "we will/plan to release/open-source/make ... <noun>"
    r"|\bwe\s+(?:(?:also|further|additionally)\s+)?(?:will|shall|plan\s+to|intend\s+to"
    r"|are\s+going\s+to|aim\s+to|hope\s+to|would\s+like\s+to|are\s+planning\s+to|promise\s+to"
    r"|commit\s+to)\s+(?:(?:also|further|publicly|fully|openly|soon)\s+)?"
    r"(?:release|open[- ]?source|publish|share|make|provide|distribute|host)\b"
    rf"[^.;:!?]{{0,60}}?\b{_NOUN}\b"
    # "<noun> ... upon acceptance / coming soon"
    rf"|\b{_NOUN}\b{_W}{{0,60}}?\b(?:(?:upon|after|following|on)\s+(?:the\s+)?(?:paper'?s?\s+)?"
    r"(?:acceptance|publication|camera[- ]ready)|coming\s+soon|forthcoming|soon\b)"
    rf"|\b(?:upon|after)\s+(?:the\s+)?(?:paper'?s?\s+)?(?:acceptance|publication)\b{_W}{{0,60}}?"
    rf"\b{_NOUN}\b"
)

_CLAIMED_LOOSE_PATTERN = (
    r"(?i)"
    # "Code: <link>", "code and videos ... <link>"
    rf"\b{_NOUN}\b{_W}{{0,60}}?{_LINK}"
    # headline style without a verb: "Code publicly available at our project page"
    rf"|\b{_NOUN}\s+(?:(?:is|are)\s+)?(?:(?:now|publicly|freely|openly)\s+)?"
    rf"(?:{_AVAILABLE_HERE}|released\b|open[- ]?sourced?\b)"
)


def _extract_urls(abstract: pl.Expr) -> pl.Expr:
    return (
        abstract.fill_null("")
        .str.extract_all(URL_PATTERN)
        .list.eval(pl.element().str.strip_chars_end(_TRAILING_PUNCTUATION))
        .list.eval(pl.element().filter(pl.element().str.contains(rf"(?i){_HAS_HOST}")))
    )


def is_repository_url(url: pl.Expr) -> pl.Expr:
    """Boolean expression: does this URL string point at a source repository?"""
    return url.str.contains(REPOSITORY_URL_PATTERN) & ~url.str.contains(_NOT_REPOSITORY_PATTERN)


def code_link_columns(abstract: pl.Expr) -> list[pl.Expr]:
    """Expressions for ``urls``, ``code_url`` and ``code_status`` computed from ``abstract``.

    See the module docstring for the rules and why they are what they are.
    """
    urls = _extract_urls(abstract)
    code_url = urls.list.eval(pl.element().filter(is_repository_url(pl.element()))).list.first()

    text = (
        abstract.fill_null("").str.replace_all(URL_PATTERN, f" {_LINK} ").str.replace_all(_TOPIC_PATTERN, f" {_TOPIC} ")
    )
    # Mask future-tense noun phrases so the present-tense patterns cannot see their noun.
    present_text = text.str.replace_all(_FUTURE_NOUN_PATTERN, f" {_FUTURE} ")

    status = (
        pl.when(code_url.is_not_null())
        .then(pl.lit("repository"))
        .when(present_text.str.contains(_CLAIMED_STRICT_PATTERN))
        .then(pl.lit("claimed"))
        .when(text.str.contains(_PROMISED_PATTERN))
        .then(pl.lit("promised"))
        .when(present_text.str.contains(_CLAIMED_LOOSE_PATTERN))
        .then(pl.lit("claimed"))
        .otherwise(pl.lit("none"))
    )
    return [urls.alias("urls"), code_url.alias("code_url"), status.alias("code_status")]
