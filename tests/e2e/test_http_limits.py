"""What the HTTP parser refuses, every service answers with the envelope and one log line:
a request line or a header over the documented limits, and bytes that are not HTTP."""

import asyncio
import json

import pytest

from latchkey.common.http_server import MAX_FIELD_SIZE, MAX_LINE_SIZE
from tests.support.stack import Stack

HEAD = "Host: x\r\nConnection: close\r\n"
REFUSED = [
    (f"GET /{'a' * MAX_LINE_SIZE} HTTP/1.1\r\n{HEAD}\r\n", 414, "request_line_too_long"),
    (
        f"GET / HTTP/1.1\r\n{HEAD}X-Big: {'b' * (MAX_FIELD_SIZE + 1)}\r\n\r\n",
        431,
        "header_too_large",
    ),
    (f"GET / HTTP/1.1\r\n{HEAD}Bad Header\r\n\r\n", 400, "malformed_request"),
    (f"GET / HTTP/1.1\r\n{HEAD}Content-Length: -1\r\n\r\n", 400, "malformed_request"),
]


async def raw_request(port: int, data: str) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data.encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("service", ["auth", "registry", "router"])
async def test_what_the_parser_refuses_is_an_envelope_and_no_stack_trace(
    stack: Stack, service: str
) -> None:
    await stack.start(*({"auth", "registry", service}))
    process = stack.services[service]
    for data, status, reason in REFUSED:
        answered, headers, body = await raw_request(process.port, data)
        assert answered == status, (data[:60], body[:200])
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["reason"] == reason
    # Within limits, the same service answers as usual.
    fine, _, _ = await raw_request(process.port, f"GET /healthz HTTP/1.1\r\n{HEAD}\r\n")
    assert fine == 200
    log = process.log_text()
    assert "Traceback" not in log
    refusals = [json.loads(line) for line in log.splitlines() if "malformed request" in line]
    assert len(refusals) == len(REFUSED)
    assert {record["level"] for record in refusals} == {"info"}
