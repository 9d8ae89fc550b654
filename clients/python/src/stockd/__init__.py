"""stockd: the Python client of the stockd daemon (daily stock data over
JSON-RPC on a Unix socket).

    import stockd

    with stockd.Client() as db:                  # blocking
        row = db.get("600519", fields=["close", "pct_chg"])
        top = db.top("pct_chg", n=20, as_frame=True)

    async with stockd.AsyncClient() as db:       # asyncio (FastAPI, aiohttp)
        ranking = await db.hotspots(n=5)

Numbers are :class:`decimal.Decimal` (exact) unless ``numbers="float"``;
dates are :class:`datetime.date`; errors raise the classes of
:mod:`stockd.errors` (``UnknownStock``, ``Forbidden``, ...).
"""

from ._transport import default_socket
from .client import METHODS, AsyncClient, Client
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all

__version__ = "0.1.0"

__all__ = ["Client", "AsyncClient", "default_socket", "METHODS", "__version__", *_errors_all]
