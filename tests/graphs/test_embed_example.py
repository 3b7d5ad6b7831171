"""graphs/embed_example.py, the README's embedding example, runs end to end on the tiny council."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO


def test_the_embedding_example_runs_the_api_and_the_compiled_graph(home: Path) -> None:
    done = subprocess.run([sys.executable, "graphs/embed_example.py"], cwd=REPO, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "LIVEMIND_HOME": str(home), "LIVEMIND_COUNCIL": "tiny"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "consensus (" in done.stdout and "agreement" in done.stdout, done.stdout[-2000:]
