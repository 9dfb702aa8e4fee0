"""The overload refusal decided before routing and before a byte of the body is read.

Under overload most detection requests are refused, and a refusal that went through routing,
the route's handler, an exception and its handler and a freshly rendered answer cost a good part
of a served request: the refusals then took the time the served requests needed. Here a full
queue (app.api.admission) is seen by a pure ASGI layer inside the key check and the metrics (so
a request without a key still gets its 401, and every refusal is counted under its route) and
the answer, the same bytes as the route's own refusal, is rendered once and sent as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.admission import Admission
from app.api.body import StrictJSONRoute, is_json
from app.api.problems import error_response


class AdmissionMiddleware:
    """Refuses a detection request (a POST to a route that reads a JSON body, with a JSON
    Content-Type: anything else gets the route's own answer) at once while the queue is full."""

    def __init__(self, app: ASGIApp, admission: Admission, routes: Sequence[BaseRoute]) -> None:
        self.app, self.admission = app, admission
        self.routes = [  # the routes whose handler takes a place in the queue (app.api.body)
            route
            for route in routes
            if isinstance(route, StrictJSONRoute) and route.body_field is not None
        ]
        self._answer: tuple[list[tuple[bytes, bytes]], bytes] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.admission.full and scope["type"] == "http" and scope["method"] == "POST":
            route = self._detection_route(scope["path"])
            if route is not None and is_json(_header(scope, b"content-type")):
                self.admission.refused += 1
                scope["route"] = route  # the metrics count it under the route's template
                await self._refuse(send)
                return
        await self.app(scope, receive, send)

    def _detection_route(self, path: str) -> StrictJSONRoute | None:
        for route in self.routes:
            if route.path_regex.match(path):
                return route
        return None

    async def _refuse(self, send: Send) -> None:
        if self._answer is None:
            response = error_response(self.admission.overloaded())
            self._answer = (response.raw_headers, bytes(response.body))
        headers, body = self._answer
        # a new list each time: the layers outside add their headers to it (CORS, nosniff)
        start: Message = {"type": "http.response.start", "status": 503, "headers": list(headers)}
        await send(start)
        await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str:
    """The first value of a header, as Starlette's Headers.get reads it ('' when absent)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""
