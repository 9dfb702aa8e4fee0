"""Capture every API example from real servers into app/api/examples.json.

1. The demo model is trained into a model folder exactly as `rarewatch serve --demo` trains it
   (app.api.serve.ensure_demo_model; the training is seeded, so the same code and libraries give
   the same model).
2. A real server, `python -m app.cli --model-dir DIR serve --port P`, is started on a free
   127.0.0.1 port; once /readyz answers 200 it is sent the example requests and the refused
   ones (limits and a reload without an admin key included), and it is always stopped afterwards.
3. A second real server, started with RAREWATCH_API_KEYS, RAREWATCH_ADMIN_KEY and
   RAREWATCH_CORS_ORIGINS in its environment, serves a folder of its own: version 1 of the demo
   model and `pump`, a copy of it with one byte of its weights changed (so readiness and the
   model list show an unavailable model). It is sent a request without a key (401), a reload
   with an API key (403) and a CORS preflight; then version 1 is copied to version 2 and
   reloaded with the admin key (200, and a second reload that changes nothing), and a tampered
   copy written as version 3 is reloaded (409, version 2 still served).
4. The answers a healthy server never gives come from in-process servers: over deliberately
   broken copies of the demo model, a copy with a tampered weights file, the only model of its
   folder (503 model_unavailable, and 503 not_ready since nothing could load), and a copy whose
   reconstruction bias is NaN, loaded by the real loader and registered without the warm-up
   that would refuse it (500 internal_error: it really scores, and really fails); and, over the
   demo model with the default settings, 503 overloaded with Retry-After, sent while as many
   detection requests as the settings admit are held half-sent.

Every answer's status and `code` (and, where the docs name one, its header) is checked as it is
captured; the capture stops at the first surprise. RAREWATCH_* variables are ignored, so the
examples show the default settings (the second server's keys and origin are the capture's own).

    .venv/bin/python -m scripts.docs.capture [--model-dir DIR]

--model-dir trains the demo model into DIR, or reuses the one DIR already has (it must be a
demo model trained by the current code); DIR is only read, the reload examples get a folder of
their own. Re-running gives the same data apart from three fields that cannot repeat: the
model's `created` time and training `seconds` (only when the model is trained again), and the
random `id` of the internal error.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

from app.api.serve import DEMO_MODEL, ensure_demo_model
from app.settings import Settings
from models.artifact import ModelStore
from models.demo import DEMO_FEATURES
from scripts.docs.captures import (
    EXAMPLES_FILE,
    JSON,
    REPO,
    Captures,
    Refusal,
    Sample,
    Secured,
    Served,
    write,
)
from scripts.docs.requests import (
    ADMIN_KEY,
    API_KEYS,
    BROKEN_MODEL,
    CORS_ORIGIN,
    DETECT,
    RELOAD,
    SECURED_ENVIRONMENT,
    Case,
    demo_sample,
    fault_requests,
    gaps_body,
    out_of_range_body,
    overload_request,
    refused_requests,
    secured_requests,
    windows_body,
)
from scripts.docs.servers import (
    demo_server,
    in_process_server,
    nan_model,
    quiet_rarewatch_log,
    tampered_copy,
)


def send(client: httpx.Client, case: Case) -> Refusal:
    headers = {"content-type": case.content_type} if case.body is not None else {}
    response = client.request(
        case.method, case.path, content=case.body, headers=headers | case.headers
    )
    answer: JSON = response.json()
    if (response.status_code, answer.get("code")) != (case.status, case.code):
        raise SystemExit(
            f"{case.name}: expected {case.status} {case.code}, got {response.status_code}: {answer}"
        )
    if case.answer_header is None:
        return case.refused(answer)
    value = response.headers.get(case.answer_header)
    if value is None:
        raise SystemExit(f"{case.name}: the answer has no {case.answer_header} header")
    return case.refused(answer, f"{case.answer_header}: {value}")


def get_ok(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> JSON:
    return _ok(client.get(path, headers=headers))


def post_ok(
    client: httpx.Client, path: str, body: JSON | None, headers: dict[str, str] | None = None
) -> JSON:
    return _ok(client.post(path, json=body, headers=headers))


def _ok(response: httpx.Response) -> JSON:
    if response.status_code != 200:
        request = response.request
        raise SystemExit(f"{request.method} {request.url}: {response.status_code} {response.text}")
    answer: JSON = response.json()
    return answer


def capture_from_server(client: httpx.Client, sample: Sample) -> tuple[Served, list[Refusal]]:
    model = get_ok(client, f"/v1/models/{DEMO_MODEL}")
    if model["features"] != DEMO_FEATURES:
        raise SystemExit(f"the demo model's features changed: {model['features']}")
    detect = post_ok(client, DETECT, sample.rows)
    if post_ok(client, DETECT, sample.series) != detect:
        raise SystemExit("rows and series of the same data got different answers")
    request = windows_body(sample, model["lookback"])
    served = Served(
        health=get_ok(client, "/healthz"),
        model=model,
        detect=detect,
        detect_last=post_ok(client, f"{DETECT}/last", sample.rows),
        windows_request=request,
        windows=post_ok(client, f"/v1/models/{DEMO_MODEL}/windows", request),
        gaps_request=(gaps := gaps_body(sample)),
        gaps=post_ok(client, DETECT, gaps),
        out_of_range_request=(far := out_of_range_body(sample)),
        out_of_range=post_ok(client, f"{DETECT}/last", far),
    )
    return served, [send(client, case) for case in refused_requests(sample, Settings())]


def capture_secured(
    demo_store: ModelStore, work: Path, sample: Sample
) -> tuple[Secured, list[Refusal]]:
    """The keys, CORS and the reloads, from a real server over a folder of its own."""
    store = ModelStore(work / "secured")
    _, source = demo_store.resolve(DEMO_MODEL)
    shutil.copytree(source, store.root / DEMO_MODEL / "1")
    tampered_copy(demo_store, store.root / BROKEN_MODEL / "1")
    unauthorized, not_admin, reload_failed = secured_requests(sample)
    key = {"X-API-Key": API_KEYS[1]}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with (
        demo_server(store.root, work / "secured.log", SECURED_ENVIRONMENT) as url,
        httpx.Client(base_url=url, timeout=60.0) as client,
    ):
        ready = get_ok(client, "/readyz", key)  # without a key: the status alone
        models = get_ok(client, "/v1/models", key)
        if [m["name"] for m in ready["unavailable"]] != [BROKEN_MODEL]:
            raise SystemExit(f"the tampered {BROKEN_MODEL} is not listed as unavailable: {ready}")
        refusals = [send(client, unauthorized), send(client, not_admin)]
        cors_request, cors_answer = preflight(client)

        shutil.copytree(store.root / DEMO_MODEL / "1", store.root / DEMO_MODEL / "2")
        reload = post_ok(client, RELOAD, None, admin)
        expected = {"name": DEMO_MODEL, "version": 2, "previous_version": 1, "reloaded": True}
        if reload != expected:
            raise SystemExit(f"reloading version 2 answered {reload}")
        reload_again = post_ok(client, RELOAD, None, admin)
        if reload_again["reloaded"] or reload_again["version"] != 2:
            raise SystemExit(f"a reload without a newer version answered {reload_again}")

        tampered_copy(store, store.root / DEMO_MODEL / "3")
        refusals.append(send(client, reload_failed))
        served = post_ok(client, DETECT, sample.rows, key)["model"]["version"]
        if served != 2:
            raise SystemExit(f"after the failed reload version {served} answers, not version 2")
    return Secured(ready, models, reload, reload_again, cors_request, cors_answer), refusals


def preflight(client: httpx.Client) -> tuple[list[str], list[str]]:
    """A browser's CORS preflight from the allowed origin: answered without a key."""
    request = {
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    response = client.options(DETECT, headers=request)
    allowed = response.headers.get("access-control-allow-origin")
    if response.status_code != 200 or allowed != CORS_ORIGIN:
        raise SystemExit(f"the CORS preflight got {response.status_code}, origin {allowed}")
    if "access-control-allow-credentials" in response.headers:
        raise SystemExit("the CORS preflight allows credentials")
    answer = [f"{response.http_version} {response.status_code} {response.reason_phrase}"] + [
        f"{name}: {value}"
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    ]
    return [f"{name}: {value}" for name, value in request.items()], answer


def capture_faults(demo_store: ModelStore, work: Path, sample: Sample) -> list[Refusal]:
    not_ready, unavailable, internal = fault_requests(sample)
    broken_folder = work / "broken"
    tampered_copy(demo_store, broken_folder / BROKEN_MODEL / "1")
    faulty = nan_model(demo_store)
    with quiet_rarewatch_log(), in_process_server(Settings(model_dir=broken_folder)) as server:
        app, url = server
        with httpx.Client(base_url=url, timeout=30.0) as client:
            refusals = [send(client, case) for case in (not_ready, unavailable)]
            app.state.registry.add(faulty)
            refusals.append(send(client, internal))
    return refusals


def capture_overload(model_dir: Path, sample: Sample) -> Refusal:
    """503 overloaded from the demo model with the default settings: the queue's counter is set
    to its bound (as many requests as it admits, running and queued: a request whose body is
    still arriving no longer holds a place, so slow senders cannot stand for them), and the
    next request is refused; with the counter back, the same request must be served."""
    settings = Settings(model_dir=model_dir)
    bound = settings.max_concurrent_inferences + settings.max_queued_requests
    case = overload_request(sample)
    assert case.body is not None
    with quiet_rarewatch_log(), in_process_server(settings) as server:
        app, url = server
        admission = app.state.admission
        with httpx.Client(base_url=url, timeout=30.0) as client:
            admission.admitted += bound  # the server's loop is idle meanwhile: no request runs
            try:
                refusal = send(client, case)
            finally:
                admission.admitted -= bound
            headers = {"content-type": case.content_type} | case.headers
            served = client.post(case.path, content=case.body, headers=headers)
    if served.status_code != 200:
        raise SystemExit(f"the request after the overload was answered {served.status_code}")
    if refusal.header != f"Retry-After: {settings.retry_after_s}":
        raise SystemExit(f"the overload answer has {refusal.header!r}")
    return refusal


def check_claims(served: Served) -> None:
    """What docs/api.md says about the answers, checked on them: /detect/last's result is
    /detect's last one, and /windows scores its two windows as /detect does."""
    results = served.detect["results"]
    if served.detect_last["results"] != results[-1:]:
        raise SystemExit("/detect/last did not answer /detect's last result")
    for got, expected in zip(served.windows["results"], (results[0], results[-1]), strict=True):
        if not math.isclose(got["score"], expected["score"], rel_tol=1e-6):
            raise SystemExit(f"/windows scored {got['score']}, /detect {expected['score']}")


def ignore_rarewatch_environment() -> None:
    """The examples show the default settings, whatever RAREWATCH_* says here."""
    for key in [key for key in os.environ if key.startswith("RAREWATCH_")]:
        del os.environ[key]


def capture(model_dir: Path, work: Path) -> Captures:
    """Train (or reuse) the demo model in model_dir and capture every example; work is scratch."""
    ensure_demo_model(Settings(model_dir=model_dir))
    sample = demo_sample()
    demo_store = ModelStore(model_dir)
    with (
        demo_server(model_dir, work / "server.log") as url,
        httpx.Client(base_url=url, timeout=30.0) as client,
    ):
        served, refused = capture_from_server(client, sample)
    check_claims(served)
    secured, refused_with_keys = capture_secured(demo_store, work, sample)
    more = [*capture_faults(demo_store, work, sample), capture_overload(model_dir, sample)]
    refusals = sorted([*refused, *refused_with_keys, *more], key=lambda r: r.status)
    problems = {refusal.name: refusal for refusal in refusals}
    if len(problems) != len(refusals):
        raise SystemExit("two refused requests have the same name")
    return Captures(sample, served, secured, problems)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="train the demo model here, or reuse the one it has (default: a temporary folder)",
    )
    args = parser.parse_args()
    ignore_rarewatch_environment()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="rarewatch-api-docs-") as temporary:
        work = Path(temporary)
        model_dir = args.model_dir.resolve() if args.model_dir else work / "models"
        write(capture(model_dir, work))
    print(
        f"capture: wrote {EXAMPLES_FILE.relative_to(REPO)} in {time.monotonic() - started:.0f}s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
