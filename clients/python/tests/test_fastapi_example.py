"""examples/fastapi_app.py through FastAPI's TestClient (the lifespan
runs: one AsyncClient for the app's lifetime) against the demo daemon."""

import importlib.util
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import stockd

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "fastapi_app.py"


@pytest.fixture
def app(demo, monkeypatch):
    monkeypatch.setenv("STOCKD_SOCKET", demo.socket)
    spec = importlib.util.spec_from_file_location("fastapi_app", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with TestClient(module.app) as client:
        yield client


def test_hotspots_endpoint(app, demo):
    r = app.get("/hotspots", params={"n": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    with stockd.Client(demo.socket, numbers="float") as c:
        direct = c.hotspots(n=5)
    assert body["date"] == direct["date"].isoformat()
    assert [i["industry"] for i in body["industries"]] == [i["industry"] for i in direct["industries"]]
    assert body["industries"][0]["heat"] == direct["industries"][0]["heat"]
    assert len(body["industries"][0]["leaders"]) == 3
    # A date the store holds, as the client passes a datetime.date.
    again = app.get("/hotspots", params={"n": 5, "date": body["date"]})
    assert again.json() == body


def test_history_endpoint(app, demo):
    r = app.get("/history/600519", params={"fields": "close,pct_chg,volume"})
    assert r.status_code == 200, r.text
    body = r.json()
    with stockd.Client(demo.socket, numbers="float") as c:
        dates = c.market_dates()
        direct = c.history("600519", fields=["close"])
    assert body["x"] == [d.isoformat() for d in dates]
    assert set(body["series"]) == {"close", "pct_chg", "volume"}
    assert body["series"]["close"] == direct["columns"]["close"]
    part = app.get("/history/600519", params={"fields": "close", "start": body["x"][-5]}).json()
    assert part["x"] == body["x"][-5:]


def test_errors_map_to_http(app):
    r = app.get("/history/999999")
    assert r.status_code == 404 and r.json()["error"] == "unknown_stock" and r.json()["value"] == "999999"
    r = app.get("/history/600519", params={"fields": "nope"})
    assert r.status_code == 400 and r.json()["error"] == "unknown_column"
    r = app.get("/hotspots", params={"date": "1999-01-04"})
    assert r.status_code == 400 and r.json()["error"] == "unknown_date"
