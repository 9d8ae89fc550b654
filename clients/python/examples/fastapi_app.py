"""A FastAPI backend on stockd: one AsyncClient for the app's lifetime.

    pip install 'stockd[examples]'          # fastapi, uvicorn (from clients/python)
    STOCKD_SOCKET=./stockd.sock uvicorn fastapi_app:app --port 8000

    GET /hotspots?date=2024-06-28&n=10   the day's industries ranked by heat
    GET /history/600519?fields=close,pct_chg&start=2024-06-03
                                         a stock's history as columns for a chart

The client is created in the lifespan and closed at shutdown; its
keep-alive connections are shared by every request (a small pool, never
one connection per request). Numbers come as floats here, as a chart
library wants them; leave ``numbers`` at its default for exact Decimals.
stockd's errors map to HTTP: unknown stock, date, column or industry →
404/400 with the daemon's message; overloaded → 503.
"""

import datetime as dt
import math
from contextlib import asynccontextmanager
from typing import Any, Dict, List, Optional

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

import stockd


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Socket: $STOCKD_SOCKET, else where the daemon listens by default.
    async with stockd.AsyncClient(numbers="float", timeout=10) as client:
        app.state.stockd = client
        yield


app = FastAPI(title="stock analysis on stockd", lifespan=lifespan)


def db(request: Request) -> stockd.AsyncClient:
    return request.app.state.stockd


@app.exception_handler(stockd.RpcError)
async def rpc_error(request: Request, e: stockd.RpcError) -> JSONResponse:
    status = 400
    if isinstance(e, (stockd.UnknownStock, stockd.UnknownIndustry)):
        status = 404
    elif isinstance(e, (stockd.Overloaded, stockd.StoreNotLoaded)):
        status = 503
    return JSONResponse({"error": e.kind, "message": e.message, "value": e.value}, status_code=status)


@app.exception_handler(stockd.ConnectError)
async def unreachable(request: Request, e: stockd.ConnectError) -> JSONResponse:
    return JSONResponse({"error": "unavailable", "message": "the data service is not reachable"}, status_code=503)


@app.get("/hotspots")
async def hotspots(request: Request, date: Optional[dt.date] = None, n: int = Query(10, ge=1, le=100)) -> Dict[str, Any]:
    """The day's hot-spot ranking: industries by heat, with their leaders."""
    r = await db(request).hotspots(date=date, n=n)
    return {
        "date": r["date"].isoformat(),
        "industries": [
            {
                "industry": i["industry"],
                "heat": _finite(i["heat"]),
                "avg_pct_change": i["avg_pct_change"],
                "up": i["up"],
                "down": i["down"],
                "limit_up": i["limit_up"],
                "amount": i["amount"],
                "leaders": [{"code": m["code"], "name": m["name"], "pct_change": m["pct_change"]} for m in i["leaders"]],
            }
            for i in r["industries"]
        ],
    }


@app.get("/history/{code}")
async def history(
    request: Request,
    code: str,
    fields: str = "open,high,low,close,volume,pct_chg",
    start: Optional[dt.date] = None,
    end: Optional[dt.date] = None,
) -> Dict[str, Any]:
    """A stock's history as columns (``x``: dates; one array per field),
    the shape chart libraries (ECharts, Plotly) take."""
    wanted: List[str] = [f for f in fields.split(",") if f]
    h = await db(request).history(code, from_=start, to=end, fields=wanted)
    return {
        "code": h["code"],
        "x": [d.isoformat() for d in h["dates"]],
        # JSON has no NaN: a chart takes null as a gap.
        "series": {name: [_finite(v) for v in values] for name, values in h["columns"].items()},
    }


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
