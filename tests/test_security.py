"""Security: hostile text stays data, the raw folder cannot be escaped, the UI stays local, no secrets in git."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from orchestration.load.ingest import ingest, scan_raw_dir
from tests.conftest import REPO_ROOT, Workspace
from tests.synthetic import Entry, SyntheticDump, generate_dumps, write_dumps

HOSTILE_TITLES = [
    "Robert'); drop table papers; --",
    'Nice Title"; delete from raw.dumps; --',
    "An Evaluation of ' or '1'='1 Attacks",
    "$$; drop schema main cascade; $$ Dollar Quoting in Practice",
    "{{ run_query('drop table papers') }} and {% raw %}Jinja{% endraw %} in Titles",
    "copy (select 42) to 'pwned.csv'; attach 'pwned.duckdb' as pwned; --",
    "Backslashes \\'; drop table raw.paper_sightings; -- and %s %(name)s ? $1 Placeholders",
]
HOSTILE_FILE = "o'hara; drop table papers; -- 2026-02-03.txt"


def query(path: Path, sql: str, params: list[object] | None = None) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.mark.slow
def test_sql_in_titles_and_file_names_is_just_text(workspace: Workspace) -> None:
    dumps = list(generate_dumps(days=2, papers_per_day=6, seed=8, start=dt.date(2026, 2, 1)))
    write_dumps(workspace.raw_dir, dumps)
    hostile = [
        Entry(
            title=title,
            abstract=f"We study {title!r} as a title. Code: https://github.com/x/y'); drop table papers; --",
            layout="A",
        )
        for title in HOSTILE_TITLES
    ]
    day = dt.date(2026, 2, 3)
    (workspace.raw_dir / HOSTILE_FILE).write_bytes(SyntheticDump(HOSTILE_FILE, day, tuple(hostile)).render())

    run = workspace.make_run()
    assert run.returncode == 0, run.stderr[-4000:]

    snapshot = workspace.snapshot
    titles = [title for (title,) in query(snapshot, "select title from papers")]
    expected = {e.title for d in dumps for e in d.entries} | set(HOSTILE_TITLES)
    assert sorted(titles) == sorted(expected), "papers is not intact"
    for title in HOSTILE_TITLES:
        first_seen = query(
            snapshot,
            "select f.first_seen_file from paper_first_seen f join papers p using (paper_id) where p.title = ?",
            [title],
        )
        assert first_seen == [(HOSTILE_FILE,)], title
    assert query(snapshot, "select count(*) from raw.paper_sightings where dump_file = ?", [HOSTILE_FILE]) == [
        (len(HOSTILE_TITLES),)
    ]
    assert query(snapshot, "select count(*) from raw.dumps where is_current") == [(len(dumps) + 1,)]
    tables = {row[0] for row in query(snapshot, "select table_name from duckdb_tables()")}
    assert {"papers", "paper_first_seen", "dumps", "paper_sightings"} <= tables
    assert "pwned" not in {row[0] for row in query(snapshot, "select database_name from duckdb_databases()")}
    assert not list(REPO_ROOT.rglob("pwned*")), "a title was executed as SQL"
    assert not list(workspace.warehouse.parent.rglob("pwned*")), "a title was executed as SQL"


def test_symlinks_out_of_the_raw_folder_are_refused(tmp_path: Path) -> None:
    raw, outside = tmp_path / "raw", tmp_path / "outside"
    raw.mkdir()
    outside.mkdir()
    [dump] = generate_dumps(days=1, papers_per_day=3, seed=4, start=dt.date(2026, 2, 9))
    secret = outside / "secret-2026-02-09.txt"
    secret.write_bytes(dump.render())
    (outside / "dir").mkdir()
    (raw / "absolute.txt").symlink_to(secret)
    (raw / "relative.txt").symlink_to(Path("..") / "outside" / secret.name)
    (raw / "inner.txt").symlink_to(secret)
    (raw / "chain.txt").symlink_to("inner.txt")  # inside the folder, but ends outside
    (raw / "dir.txt").symlink_to(outside / "dir")
    (raw / "fine.txt").symlink_to("real.txt")  # stays inside: allowed
    (raw / "real.txt").write_bytes(dump.render())

    scan = scan_raw_dir(raw)
    assert [f.name for f in scan.files] == ["fine.txt", "real.txt"]
    skipped = {item.name: item.reason for item in scan.skipped}
    for name in ("absolute.txt", "relative.txt", "inner.txt", "chain.txt", "dir.txt"):
        assert skipped[name] == "symlink points outside the raw folder", name

    # Partition keys can be added by hand in the UI, so the loader must refuse these names too.
    warehouse = tmp_path / "warehouse" / "papers.duckdb"
    names = ["absolute.txt", "chain.txt", "../outside/" + secret.name, "dir.txt", "real.txt"]
    report = ingest(raw, warehouse, tmp_path / "writer.lock", names, reparse=False)
    assert [(o.dump_file, o.status) for o in report.outcomes] == [("real.txt", "loaded")]
    refused = {item.dump_file: item.reason for item in report.quarantined}
    assert set(refused) == set(names) - {"real.txt"}
    assert "outside the raw folder" in refused["absolute.txt"]
    assert "outside the raw folder" in refused["chain.txt"]
    assert "directly inside the raw folder" in refused["../outside/" + secret.name]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        files = con.execute("select distinct dump_file from raw.paper_sightings").fetchall()
    assert files == [("real.txt",)]


def test_dev_ui_binds_to_loopback_unless_told_otherwise() -> None:
    env = {key: value for key, value in os.environ.items() if key not in ("DAGSTER_HOST", "DAGSTER_PORT")}
    dry = subprocess.run(
        ["make", "-n", "--no-print-directory", "dev"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    [line] = [line for line in dry.stdout.splitlines() if re.search(r"\bdagster dev\b", line)]
    arguments = line.split("dagster dev", 1)[1]

    def served_on(extra: dict[str, str]) -> list[str]:
        """Let bash expand the recipe's arguments the way make would run them."""
        shown = subprocess.run(
            ["bash", "-c", f"echo {arguments}"], env={**env, **extra}, capture_output=True, text=True, check=True
        ).stdout.split()
        return [shown[shown.index("--host") + 1], shown[shown.index("--port") + 1]]

    assert served_on({}) == ["127.0.0.1", "3000"]
    assert served_on({"DAGSTER_HOST": "0.0.0.0"}) == ["0.0.0.0", "3000"]
    # Nothing else in the repository starts a server on every interface.
    for path in ("Makefile", "workspace.yaml", ".ci/run", "orchestration/dagster.yaml"):
        assert "0.0.0.0" not in (REPO_ROOT / path).read_text(), path


# Each pattern names one kind of credential. Values that are references (env vars, dbt's env_var,
# shell expansions, placeholders) are not credentials and are excluded by VALUE_IS_REFERENCE; an
# unquoted value must hold a digit, so that code such as `secret = outside / name` is not a finding.
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "JWT (MotherDuck tokens are JWTs)": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\."),
    "password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@"),
    "credential assignment": re.compile(
        r"""(?ix)
        \b(?:motherduck_token|aws_secret_access_key|aws_access_key_id|password|passwd|secret|
           api[_-]?key|access[_-]?key|auth[_-]?token|token)
        ["']?\s*[:=]\s*
        (?P<value>"[^"\n]{6,}"|'[^'\n]{6,}'|(?=[^\s,;)'"]*\d)[^\s,;)'"]{6,})  # a bare value needs a digit, unlike code
        """
    ),
}
VALUE_IS_REFERENCE = re.compile(r"""^["']?(?:\$\{|\$[A-Z_]|\{\{|<|os\.environ|env_var|getenv|\*+|x{4,}|%\()""")


def find_secrets(text: str) -> list[str]:
    found = []
    for kind, pattern in SECRET_PATTERNS.items():
        for match in pattern.finditer(text):
            value = match.groupdict().get("value")
            if value is not None and VALUE_IS_REFERENCE.match(value):
                continue
            found.append(f"{kind}: {match.group(0)[:60]}")
    return found


def test_secret_scanner_catches_real_looking_credentials() -> None:
    # Built from pieces so that this file itself does not contain them.
    leaks = [
        "MOTHERDUCK_TOKEN" + "=eyJhbGciOiJIUzI1NiJ9" + ".eyJzZXNzaW9uIjoieCJ9.abc",
        "motherduck_token" + ": abcdef123456",
        "aws_secret_access_key" + " = wJalrXUtnFEMI/K7MDENG/bPxRfiCY",
        "AKIA" + "IOSFODNN7EXAMPLE",
        "password" + ': "hunter2hunter2"',
        "  token" + ": 9f8e7d6c5b4a",
        "hf_" + "abcdefghijklmnopqrstuvwxyz123456",
        "ghp_" + "A" * 36,
        "-----BEGIN RSA " + "PRIVATE KEY-----",
        "path: md:papers?motherduck_token" + "=abcdef123456",
        "postgresql://analyst" + ":s3cret@db.example.com/catalog",
    ]
    for leak in leaks:
        assert find_secrets(leak), leak
    harmless = [
        "token: \"{{ env_var('MOTHERDUCK_TOKEN') }}\"",
        "password = os.environ['DB_PASSWORD']",
        "MOTHERDUCK_TOKEN=${MOTHERDUCK_TOKEN}",
        "a token read from `MOTHERDUCK_TOKEN`, never stored in the repository",
        'sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"',
        "https://github.com/aurora-lab/repo",
    ]
    for text in harmless:
        assert find_secrets(text) == [], text


def test_no_credentials_in_the_repository() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [REPO_ROOT / name.decode() for name in listed if name]
    assert len(files) > 20, "git ls-files found too little to be the repository"
    problems: dict[str, list[str]] = {}
    scanned = 0
    for path in files:
        relative = str(path.relative_to(REPO_ROOT))
        assert not re.search(r"(^|/)(\.env(\..*)?|.*\.pem|.*\.key|id_[rd]sa|\.netrc)$", relative), relative
        if not path.is_file() or path.stat().st_size > 5 << 20:
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        scanned += 1
        found = find_secrets(data.decode("utf-8", errors="replace"))
        if found:
            problems[str(path.relative_to(REPO_ROOT))] = found
    assert scanned > 20
    assert problems == {}
