"""An open-loop HTTP load generator light enough to share two cores with the server it loads.

Request i is due at start + i / rate whatever happened to the others (no coordinated
omission): its latency runs from that due time to the last byte of the answer, so a server
that falls behind shows it in the figures instead of slowing the generator down. Requests
are prebuilt bytes sent on fresh loopback connections by one asyncio loop, about 0.1 ms of
CPU each; a thread pool with an HTTP client library costs ten times that and its own
scheduling delays end up in the latencies.
"""
import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Result:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    late_starts: int = 0  # requests the generator itself sent over 5 ms after their due time
    elapsed_s: float = 0.0


def http_request(host: str, port: int, path: str, body: bytes, headers: dict) -> bytes:
    """A complete HTTP/1.1 POST, ready to write to a socket."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}",
             "Connection: close"] + [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _send(host: str, port: int, request: bytes, due: float, result: Result,
                limit: asyncio.Semaphore, timeout: float) -> None:
    async with limit:
        if time.perf_counter() - due > 0.005:
            result.late_starts += 1
        status = 0
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), timeout)  # the server closes
            writer.close()
            status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        except (OSError, asyncio.TimeoutError, ValueError, IndexError):
            status = 0
        result.latencies_ms.append((time.perf_counter() - due) * 1000)
        result.statuses.append(status)


async def _run(host: str, port: int, requests: list[bytes], rate: float, concurrency: int,
               timeout: float) -> Result:
    result, limit = Result(), asyncio.Semaphore(concurrency)
    start = time.perf_counter() + 0.1
    tasks = []
    for i, request in enumerate(requests):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(host, port, request, due, result, limit, timeout)))
    await asyncio.gather(*tasks)
    result.elapsed_s = time.perf_counter() - start
    return result


def post_open_loop(host: str, port: int, requests: list[bytes], rate: float,
                   concurrency: int = 256, timeout: float = 10.0) -> Result:
    """Send prebuilt `requests` at `rate` per second, open loop; latencies and statuses."""
    return asyncio.run(_run(host, port, requests, rate, concurrency, timeout))
