"""Figure 7: every SQL example of the README on the ten-year read snapshot."""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks.harness import REPO_ROOT, Scale, Space, median


def readme_queries() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```sql\n(.*?)```", text, flags=re.DOTALL)]


def figure_queries(scale: Scale, space: Space) -> dict[str, Any]:
    """Each README example query on the full snapshot: median of ``query_reps``, fresh connection each."""
    import duckdb

    results = []
    for sql in readme_queries():
        times, connects = [], []
        rows = 0
        for _ in range(scale.query_reps):
            start = time.perf_counter()
            with duckdb.connect(str(space.snapshot), read_only=True) as con:
                connected = time.perf_counter()
                rows = len(con.execute(sql).fetchall())
                times.append(time.perf_counter() - connected)
            connects.append(connected - start)
        title = sql.splitlines()[0].removeprefix("--").strip()
        results.append(
            {
                "query": title,
                "ms": round(median(times) * 1000, 1),
                "ms_all": [round(t * 1000, 1) for t in times],
                "connect_ms": round(median(connects) * 1000, 1),
                "rows": rows,
            }
        )
    return {"repetitions": scale.query_reps, "queries": results}
