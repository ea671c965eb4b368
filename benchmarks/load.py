"""HTTP load: `wrk` when it is installed, otherwise a Python closed loop over httpx.

Both keep `concurrency` keep-alive connections busy for a fixed time against 127.0.0.1 and
report requests/s and p50/p99 latency. `wrk` is preferred on a small machine because it is C
with one thread: the Python generator needs a good share of a core per thousand requests/s,
and that core is taken from the server under test (on two cores it lowers both sides; the
ratio survives better than the absolute figures). The generator used is in the results.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from dataclasses import dataclass

import httpx

from benchmarks.measure import Measurement, closed_loop

WRK_TIMEOUT_S = 10


@dataclass(frozen=True)
class Request:
    url: str  # absolute, on 127.0.0.1
    headers: dict[str, str]


def choose_generator(preference: str) -> str:
    """`wrk` or `python`; "auto" means wrk when it is on PATH."""
    if preference == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if preference == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("--generator wrk, but `wrk` is not installed (apt-get install wrk)")
    return preference


async def load(
    request: Request, *, generator: str, concurrency: int, seconds: float
) -> Measurement:
    if not request.url.startswith("http://127.0.0.1:"):
        raise ValueError("benchmark requests stay on 127.0.0.1")
    if generator == "wrk":
        return await _wrk(request, concurrency=concurrency, seconds=seconds)
    return await _python(request, concurrency=concurrency, seconds=seconds)


# --- wrk ------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse_wrk(output: str) -> Measurement:
    """Requests/s, the 50% and 99% latency lines (`--latency`), failures and the duration."""
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None or set(percentiles) != {"50", "99"}:
        raise ValueError(f"could not read wrk's output:\n{output}")
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(bad_status[1]) if bad_status else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    count = int(total[1]) - (int(bad_status[1]) if bad_status else 0)
    seconds = _milliseconds(f"{total[2]}{total[3]}") / 1000
    return Measurement(
        throughput=count / seconds if seconds else float(rate[1]),
        p50_ms=_milliseconds(percentiles["50"]),
        p99_ms=_milliseconds(percentiles["99"]),
        count=count,
        errors=errors,
        seconds=seconds,
        first_error="non-2xx responses or socket errors (see wrk)" if errors else None,
    )


async def _wrk(request: Request, *, concurrency: int, seconds: float) -> Measurement:
    command = ["wrk", "--latency", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s"]
    command += [f"--timeout={WRK_TIMEOUT_S}s"]
    for name, value in request.headers.items():
        command += ["-H", f"{name}: {value}"]
    process = await asyncio.create_subprocess_exec(
        *command,
        request.url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 2 * WRK_TIMEOUT_S)
    if process.returncode != 0:
        raise RuntimeError(f"wrk exited {process.returncode}:\n{output.decode(errors='replace')}")
    return parse_wrk(output.decode(errors="replace"))


# --- Python ---------------------------------------------------------------------------------


async def _python(request: Request, *, concurrency: int, seconds: float) -> Measurement:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        limits=limits, timeout=WRK_TIMEOUT_S, trust_env=False, headers=request.headers
    ) as http:

        async def get(_: int) -> None:
            response = await http.get(request.url)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}")

        return await closed_loop(get, concurrency=concurrency, seconds=seconds)
