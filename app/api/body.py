"""Request bodies read strictly: JSON content type, a size limit, and orjson's strict parser.

Python's json module accepts NaN, Infinity and 1e400 (as inf); orjson refuses all of them, so a
non-finite number never reaches a model. The body is read and parsed here, before FastAPI
validates it against the route's schema, so every failure is a problem+json answer with a code.
A detection body is received first, within the bounds on bodies arriving (app.api.admission);
then the request is admitted, and parsed, checked against the per-request limits
(app.api.limits), validated and answered in an inference slot.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool

from app.api.admission import Reception
from app.api.deps import scoring_call
from app.api.numeric_body import FAST_PATH_BYTES, parse_rows_body
from app.api.problems import BodyTooLarge, InvalidJSON, UnsupportedMediaType
from app.api.schemas import DetectRequest
from models.errors import NonFiniteValues

# bodies above this are parsed off the event loop
PARSE_IN_THREAD_BYTES = 1 << 20
NON_FINITE_LITERALS = ("NaN", "Infinity", "-Infinity")


class ParsedJSONRequest(Request):
    """A request whose body was already read and parsed (FastAPI's custom Request pattern)."""

    def __init__(self, request: Request, body: bytes, parsed: Any) -> None:
        super().__init__(request.scope, request.receive)
        self._raw_body, self._parsed = body, parsed

    async def body(self) -> bytes:
        return self._raw_body

    async def json(self) -> Any:
        return self._parsed


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is checked and parsed strictly before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()
        if self.body_field is None:
            return handle
        takes_rows = self.body_field.field_info.annotation is DetectRequest
        parse = parse_rows_request if takes_rows else parse_json
        # the detection routes are called straight, the others through FastAPI's handler
        call_route = scoring_call(self)

        async def handle_strict_json(request: Request) -> Response:
            require_json_content_type(request)
            state = request.app.state
            state.admission.check()  # a full queue refuses before a byte of the body is read
            body = await read_body(request, state.settings.max_body_bytes, state.reception)
            async with state.admission.admit(), state.admission.slot():
                if len(body) > PARSE_IN_THREAD_BYTES:
                    parsed = await run_in_threadpool(parse, body)
                else:
                    parsed = parse(body)
                state.limits.check(parsed)
                if call_route is not None:
                    return await call_route(request, parsed)
                return await handle(ParsedJSONRequest(request, body, parsed))

        return handle_strict_json


def require_json_content_type(request: Request) -> None:
    if not is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType(
            "send the body as JSON with the header Content-Type: application/json"
        )


def is_json(content_type: str) -> bool:
    """Whether a Content-Type header's value names JSON (application/json or .../...+json)."""
    media_type = content_type.split(";", maxsplit=1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


async def read_body(request: Request, max_bytes: int, reception: Reception) -> bytes:
    """The whole body, within the reception's bounds: per client, on bytes, and in time."""
    too_large = BodyTooLarge(f"the request body is larger than the limit of {max_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise too_large  # refused before a byte of it is read
    client = request.client.host if request.client else ""
    async with reception.receiving(client) as held:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:  # chunked bodies, or a Content-Length that lied
                raise too_large
            held.add(len(chunk))
            chunks.append(chunk)
        return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise InvalidJSON("the request body is empty; send a JSON object")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _decode_problem(exc) from None


def parse_rows_request(body: bytes) -> Any:
    """parse_json, with large rows of numbers read by the fast path (app.api.numeric_body)."""
    if len(body) >= FAST_PATH_BYTES:
        parsed = parse_rows_body(body)
        if parsed is not None:
            return parsed
    return parse_json(body)


def _decode_problem(exc: orjson.JSONDecodeError) -> Exception:
    at = exc.doc[exc.pos : exc.pos + 9] if isinstance(exc.doc, str) else ""
    if at.startswith(NON_FINITE_LITERALS) or "infinity when parsed" in exc.msg:
        return NonFiniteValues(
            f"the body holds a non-finite number (NaN, Infinity or one too large for a double) "
            f"near character {exc.pos}; only finite numbers are accepted"
        )
    # orjson's message names the fault (syntax, invalid UTF-8, nesting too deep), never the input
    return InvalidJSON(f"the request body is not valid JSON: {exc.msg} (at character {exc.pos})")
