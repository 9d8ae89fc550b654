"""The README's Python client recipes, run for real: each fenced block
after a ``<!-- pytest:NAME -->`` marker, with STOCKD_SOCKET set to the demo
daemon (the ``<!-- example:... -->`` blocks are the Rust tests')."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

README = REPO / "README.md"
MARKERS = ["client", "client-async"]


def block(marker):
    text = README.read_text()
    tag = f"<!-- pytest:{marker} -->"
    assert text.count(tag) == 1, f"README.md must hold {tag} exactly once"
    m = re.search(re.escape(tag) + r"\s*```python\n(.*?)\n```", text, re.S)
    assert m, f"{tag} must be followed by a ```python block"
    return m.group(1)


def test_every_marker_is_run():
    assert sorted(re.findall(r"<!-- pytest:([\w-]+) -->", README.read_text())) == sorted(MARKERS)


@pytest.mark.parametrize("marker", MARKERS)
def test_recipe(demo, marker, tmp_path):
    r = subprocess.run(
        [sys.executable, "-"],
        input=block(marker),
        text=True,
        capture_output=True,
        cwd=tmp_path,
        env={**os.environ, "STOCKD_SOCKET": demo.socket},
        timeout=120,
    )
    assert r.returncode == 0, f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    # What it printed is what the daemon holds.
    import stockd

    with stockd.Client(demo.socket) as c:
        if marker == "client":
            expected = [str(c.get("600519")["values"]["close"]), "1001 unknown_stock 999999"]
            expected += [c.top("pct_chg", n=1)[0]["values"]["stock_name"]]
        else:
            expected = [i["industry"] for i in c.hotspots(n=3)["industries"]]
            expected += [f"{float(x):.2f}" for x in c.history("600519", fields=["close"])["columns"]["close"][-3:]]
    for text in expected:
        assert text in r.stdout, f"{text!r} not in:\n{r.stdout}"
