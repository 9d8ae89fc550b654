"""Errors raise typed exceptions carrying code, message and data, through
both clients; the classes match daemon/api/src/error.rs."""

import os
import re
import subprocess
import tempfile
import textwrap
from pathlib import Path

import pytest

import stockd
from conftest import PACKAGE_SRC, REPO, Daemon, as_user, python_for


@pytest.mark.parametrize(
    "method,args,kwargs,cls,code,value",
    [
        ("get", ("999999",), {}, stockd.UnknownStock, 1001, "999999"),
        ("get", ("600519",), {"date": "1999-01-04"}, stockd.UnknownDate, 1002, "1999-01-04"),
        ("get", ("600519",), {"fields": ["close", "pe_tmm"]}, stockd.UnknownColumn, 1003, "pe_tmm"),
        ("top", ("no_such",), {}, stockd.UnknownColumn, 1003, "no_such"),
        ("top", ("stock_name",), {}, stockd.InvalidParams, -32602, None),
        ("industry", ("no such industry",), {}, stockd.UnknownIndustry, 1004, "no such industry"),
        ("cache_clear", ("nope",), {}, stockd.UnknownCache, 1005, "nope"),
        ("top", ("pct_chg",), {"n": 501}, stockd.LimitExceeded, 1009, None),
        ("many", ([str(i) for i in range(1001)],), {}, stockd.LimitExceeded, 1009, None),
        ("call", ("stock.get",), {"code": "600519", "feilds": ["x"]}, stockd.InvalidParams, -32602, "feilds"),
        ("call", ("no.such",), {}, stockd.UnknownMethod, -32601, None),
    ],
)
def test_error_kinds(call, method, args, kwargs, cls, code, value):
    with pytest.raises(cls) as info:
        call(method, *args, **kwargs)
    e = info.value
    assert isinstance(e, stockd.RpcError) and isinstance(e, stockd.StockdError)
    assert e.code == code == cls.code_
    assert e.message and str(code) in str(e)
    if code > 0:
        assert e.kind == cls.kind_ and e.data["kind"] == cls.kind_
    if value is not None:
        assert e.value == value and value in e.message


def test_unknown_code_still_raises_with_its_code():
    e = stockd.error_from_object({"code": 4242, "message": "new", "data": {"kind": "brand_new", "value": "x"}})
    assert type(e) is stockd.RpcError and e.code == 4242 and e.kind == "brand_new" and e.value == "x"


def test_error_classes_match_the_contract():
    """Every ErrorKind of daemon/api/src/error.rs has a class with its code
    and name, and no class names a code the contract does not have."""
    src = (REPO / "daemon" / "api" / "src" / "error.rs").read_text()
    codes = dict(re.findall(r"ErrorKind::(\w+) => (-?\d+),", src))
    names = dict(re.findall(r'ErrorKind::(\w+) => "(\w+)",', src))
    assert codes and set(codes) == set(names), "error.rs changed shape: update this test"
    contract = {int(codes[k]): names[k] for k in codes}
    # JSON-RPC's own codes the daemon answers besides ErrorKind's.
    contract.update({-32700: "parse_error", -32600: "invalid_request", -32601: "unknown_method"})
    ours = {code: cls.kind_ for code, cls in stockd.ERRORS_BY_CODE.items()}
    assert ours == contract
    for code, cls in stockd.ERRORS_BY_CODE.items():
        assert getattr(stockd, cls.__name__) is cls


def test_forbidden_for_a_non_admin():
    """An admin method called by a process that is not an admin (uid
    65534, no groups) raises Forbidden; a data method works for it. Run
    with the system's Python and the package's source on PYTHONPATH: the
    core is the standard library only."""
    uid = gid = 65534
    exe = python_for(uid, gid)
    top = Path(tempfile.mkdtemp(prefix="stockd-py-forbidden-"))
    os.chmod(top, 0o755)
    src = top / "src"
    import shutil

    shutil.copytree(PACKAGE_SRC / "stockd", src / "stockd", ignore=shutil.ignore_patterns("__pycache__"))
    for p in [src, *src.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    d = Daemon(config='[server]\nsocket_mode = "0666"\n', directory=top / "daemon")
    try:
        os.chmod(d.dir, 0o755)
        script = textwrap.dedent(
            f"""
            import stockd
            with stockd.Client({d.socket!r}) as c:
                print(c.get("600519", fields=["close"])["values"]["close"])
                try:
                    c.status()
                except stockd.Forbidden as e:
                    print("forbidden", e.code, e.kind)
            """
        )
        r = subprocess.run(
            [*as_user(uid, gid), exe, "-c", script],
            env={"PYTHONPATH": str(src), "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[1] == "forbidden 1007 forbidden", r.stdout
    finally:
        d.cleanup()
        shutil.rmtree(top, ignore_errors=True)
