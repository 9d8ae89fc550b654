"""The client offers every method of the running daemon's contract
(``rpc.discover``) with exactly its params, so a method or param added to
the daemon and not here fails."""

import inspect

import stockd
from stockd.client import CLIENT_CHOSEN, NOT_OFFERED, WIRE_NAMES

# Keyword-only options of the client, not params of the contract.
CLIENT_OPTIONS = {"as_frame"}


def wire_params(method):
    params = []
    for p in inspect.signature(method).parameters.values():
        if p.name == "self" or p.name in CLIENT_OPTIONS:
            continue
        assert p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, (method, p)
        params.append(WIRE_NAMES.get(p.name, p.name))
    return params


def test_every_contract_method_has_a_client_method(demo):
    with stockd.Client(demo.socket) as c:
        doc = c.discover()
    contract = {m["name"]: m for m in doc["methods"]}
    offered = set(stockd.METHODS)
    missing = set(contract) - offered - set(NOT_OFFERED)
    assert not missing, f"methods of the daemon the Python client lacks: {sorted(missing)}"
    gone = offered - set(contract)
    assert not gone, f"client methods the daemon no longer has: {sorted(gone)}"
    for name in NOT_OFFERED:
        # Only subscriptions (WebSocket) may be left out.
        assert "x-notification" in contract[name], name
    for name, py in stockd.METHODS.items():
        for cls in (stockd.Client, stockd.AsyncClient):
            method = getattr(cls, py)
            assert method.__doc__ and name in method.__doc__, (name, py)
            expected = [p["name"] for p in contract[name]["params"] if p["name"] not in CLIENT_CHOSEN]
            # Same names in the same order: positional calls mean the same.
            assert wire_params(method) == expected, name
            required = [p["name"] for p in contract[name]["params"] if p["required"]]
            sig = inspect.signature(method).parameters
            for p in sig.values():
                if WIRE_NAMES.get(p.name, p.name) in required:
                    assert p.default is inspect.Parameter.empty, (name, p.name)


def test_async_methods_are_coroutines(demo):
    import asyncio

    async def go():
        async with stockd.AsyncClient(demo.socket) as c:
            coro = c.market_dates()
            assert inspect.iscoroutine(coro)
            return await coro

    assert asyncio.run(go())
