"""docs/api.md, second part: results, reloads, keys, limits, shutdown, errors, the client."""

# ruff: noqa: E501 (the page's tables have one row a line)

from __future__ import annotations

import textwrap

from app.api.serve import DEMO_MODEL
from models.scoring import SEVERITY_FORMULA
from scripts.docs.captures import Captures, Refusal
from scripts.docs.layout import block
from scripts.docs.requests import ADMIN_KEY, API_KEYS, CORS_ORIGIN
from scripts.docs.sections_routes import default
from scripts.docs.severity import SeverityExample


def doc_results(captures: Captures, severity: SeverityExample) -> str:
    threshold = captures.served.model["threshold"]
    if threshold["method"] == "quantile":
        chosen = (
            f"The demo model's is the {threshold['quantile']:g} quantile of the scores of\n"
            f"  held-out normal windows, so about {100 * (1 - threshold['quantile']):.2g} % of "
            "normal windows score above it."
        )
    else:
        chosen = f"The demo model's was chosen by `{threshold['method']}`."
    example = severity.result
    flagged = [r for r in captures.served.detect["results"] if r["is_anomaly"]]
    flagged_text = ", ".join(f"{r['severity']:.2f}" for r in flagged)
    t, step = severity.threshold, severity.step
    return f"""\
<a id="results"></a>
## What a result means

- **score**: the window's reconstruction error, the mean squared difference between the window
  and the model's reconstruction of it, in scaled units (each feature standardized with the
  mean and spread of the normal training rows). With `score_on: "last_step"` the mean covers
  only the window's last row.
- **is_anomaly**: `score > threshold`. The threshold is stored with the model; `threshold` in
  the body overrides it for one request. {chosen}
- **severity**, in [0, 1]: how far past the threshold the score is. Reconstruction errors are
  heavy-tailed, so the distance is counted in ratios: in *steps*, where one step is the factor
  by which the threshold already exceeds the median error of normal windows.

  ```
{textwrap.indent(SEVERITY_FORMULA, "  ")}
  ```

  A score of threshold x step has severity 0.63, threshold x step^2 0.86, threshold x step^3
  0.95; severity approaches 1 as the score grows. A `threshold` sent in the body replaces the
  threshold in the formula, q50 stays the model's.

  For the demo model, threshold {t:.4g} and q50 {severity.median:.4g}, so step =
  {t:.4g} / {severity.median:.4g} = {step:.3g}: scores of {t * step:#.3g}, {t * step**2:#.3g} \
and {t * step**3:#.3g} have severity 0.63, 0.86
  and 0.95. The first window of the fault above (`index` {example["index"]}) scored \
{example["score"]:.4g},
  {severity.ratio:.3g} times the threshold, which is ln({severity.ratio:.3g}) / ln({step:.3g}) \
= {severity.steps:.3g} steps: severity
  1 - exp(-{severity.steps:.3g}) = {example["severity"]:.3f}. The fault's {len(flagged)} \
windows have severity {flagged_text}.
- **top_features**: each feature's share of the window's squared error (the shares of all
  features sum to 1), the `RAREWATCH_TOP_FEATURES` largest first. The feature a fault broke
  usually carries most of the error: `{captures.served.detect["events"][0]["top_feature"]}` above.
- **events**: runs of consecutive anomalous windows. `start_index` / `end_index` (and
  timestamps) are the rows of the first and last anomalous windows' results, `n_windows` their
  number, `peak_index` / `peak_score` the highest-scoring window, and `top_feature` the feature
  with the largest summed share over the run.
"""


def doc_reload(captures: Captures) -> str:
    secured = captures.secured
    return f"""\
<a id="reload"></a>
## Reloading a model: `POST /v1/models/{{name}}/reload`

Serves a model's newest stored version without a restart: a version `rarewatch train` has just
written, say, or a model new to the folder. The version is loaded, checked against its SHA-256
manifest and warmed up, and only then swapped in (one assignment): requests never wait for it,
those in flight finish on the version they started with, and none fails. Reloads run one after
the other. The route needs the admin key ([`RAREWATCH_ADMIN_KEY`](#keys)), as `X-API-Key` or
`Authorization: Bearer`; it has no body.

Captured from the server started with keys, serving version 1 of the demo model, after version 1
was copied to version 2 in its folder:

```
curl -s -X POST http://127.0.0.1:8000/v1/models/{DEMO_MODEL}/reload -H 'Authorization: Bearer {ADMIN_KEY}'
```

{block(secured.reload)}

When the newest stored version is the one served, nothing changes:

{block(secured.reload_again)}

409 `reload_failed` when the newest version cannot be served, here version 3, a copy of version
2 with one byte of its weights changed. The version served so far stays (`/detect` went on
answering with version 2), and the next reload tries again:

{block(captures.answer("reload_failed"))}

Without `RAREWATCH_ADMIN_KEY` (the default) the route is off: 403 to every request:

{block(captures.answer("forbidden"))}

`kill -HUP <pid>` (or `docker kill --signal HUP <container>`) reloads every model the same way,
admin key or not: every model in the folder and every one served, one after the other. A failure
is logged and leaves that model as it was (a model that failed at start-up and now loads is
served from then on); the others are still reloaded.
"""


def doc_keys(captures: Captures) -> str:
    secured = captures.secured
    unauthorized = captures.problems["unauthorized"]
    cors_request = "\n".join(secured.cors_request)
    cors_answer = "\n".join(secured.cors_answer)
    return f"""\
<a id="keys"></a>
## API keys, the admin key and CORS

By default the API is open to whoever can reach it. With `RAREWATCH_API_KEYS` set
(comma-separated: `RAREWATCH_API_KEYS={",".join(API_KEYS)}`, say), every `/v1` route
needs one of the keys, sent as `X-API-Key: {API_KEYS[0]}` or
`Authorization: Bearer {API_KEYS[0]}`:

```
curl -s http://127.0.0.1:8000/v1/models -H 'X-API-Key: {API_KEYS[0]}'
```

`/metrics` then needs an API key too, or `RAREWATCH_METRICS_KEY`, a key that opens `/metrics`
only (the one to give Prometheus). `RAREWATCH_ADMIN_KEY` opens the reloads and nothing else.
`/healthz`, `/readyz`, `/docs`, `/openapi.json` and the web page at `/` stay open (the page has
a field for the key, sent to this server only); `/readyz` then tells a caller without a key only
whether the server is ready, and names the models to one with an API key or the metrics key. A
request whose `X-API-Key` and bearer token hold different keys gets 401. The key is checked
before the body is read; keys are compared in constant time. The OpenAPI document then declares both ways
of sending one, so `/docs` has an Authorize button. Keys travel in clear text over plain HTTP:
put the server behind TLS (a reverse proxy) when they cross a network.

401 `unauthorized` without a valid key, with `{unauthorized.header}`:

{block(unauthorized.answer)}

`RAREWATCH_ADMIN_KEY` is the key for model administration, [reloads](#reload); it is also
accepted wherever an API key is. An API key on the admin route gets 403, no key or a wrong one
401:

{block(captures.answer("not_admin"))}

`RAREWATCH_CORS_ORIGINS` (comma-separated, e.g. `{CORS_ORIGIN}`) lets web pages from those
origins call the API from a browser: `GET` and `POST`, with the headers `Authorization`,
`Content-Type` and `X-API-Key`, and `Retry-After` readable by the page; credentials (cookies)
are never allowed. None by default, so browsers refuse cross-origin calls. A browser's preflight
is answered before any key is checked; captured with
`RAREWATCH_CORS_ORIGINS={CORS_ORIGIN}`:

```
OPTIONS /v1/models/{DEMO_MODEL}/detect
{cors_request}
```

```
{cors_answer}
```
"""


def doc_limits(captures: Captures) -> str:
    overloaded = captures.problems["overloaded"]
    running, queued = default("max_concurrent_inferences"), default("max_queued_requests")
    return f"""\
<a id="limits"></a>
## Limits and overload

One request cannot take the server down:

- A body over `RAREWATCH_MAX_BODY_BYTES` gets 413 `body_too_large`, refused from its
  `Content-Length` before a byte of it is read, or while a chunked body is read.
- The arrays of a parsed body are counted before the schema validates it, so an oversized
  request costs a few length checks: rows (`RAREWATCH_MAX_ROWS`: of `values`, `timestamps`, a
  feature of `series`, a window), features (`RAREWATCH_MAX_FEATURES`: values per row, names in
  `columns`, features of `series`) and windows (`RAREWATCH_MAX_WINDOWS`). Past one, 413
  `limit_exceeded` naming it; here {default("max_features") + 1:,} names in `columns`:

{block(captures.answer("limit_exceeded"))}

<a id="overload"></a>
Nor can many: a detection request's (`/detect`, `/detect/last`, `/windows`) body is received
first, within `RAREWATCH_BODY_TIMEOUT_S` of its headers (408 `request_timeout` past it), so a
slow sender holds no place in the queue; then the request is admitted, and parsed, validated
and scored in one of `RAREWATCH_MAX_CONCURRENT_INFERENCES` slots; up to
`RAREWATCH_MAX_QUEUED_REQUESTS` more wait for one. Past both, the next one is answered at
once with 503 `overloaded` and a `Retry-After` of `RAREWATCH_RETRY_AFTER_S` seconds: the queue,
and so the latency of the requests in it, stays bounded. Retry after that long (with some
jitter, so that refused clients do not all come back at once). `/healthz`, `/readyz`,
`/metrics`, the model list and descriptions and reloads bypass the bound, so readiness still
answers while the detection routes are full. Refusals are counted in `/metrics` (status 503),
not logged one by one.

Captured with the default settings ({running} slots, {queued} places in the queue) while
the queue's count stood at its bound of {running + queued}; the answer carries
`{overloaded.header}`:

{block(overloaded.answer)}
"""


def doc_shutdown() -> str:
    grace = default("shutdown_grace_s")
    return f"""\
<a id="shutdown"></a>
## Shutting down: SIGTERM

On SIGTERM (what `docker stop` and Kubernetes send; SIGINT, Ctrl-C, does the same) `/readyz`
answers 503 `not_ready` ("not ready: shutting down") at once, so that load balancers stop
sending requests; the server stops accepting connections, lets the requests in flight complete
within `RAREWATCH_SHUTDOWN_GRACE_S` seconds ({grace} by default), and exits. Give the process
longer than that before it is killed: `docker stop` waits 10 s unless told otherwise (`-t`),
Kubernetes `terminationGracePeriodSeconds` (30 s by default). SIGHUP [reloads](#reload) every
model.
"""


ERROR_TABLE = """\
| code | status | when |
|---|---|---|
| `host_not_allowed` | 400 | the `Host` header is not a name the server answers for: a loopback name, one of `RAREWATCH_ALLOWED_HOSTS`, and when not bound to loopback an IP address or a name without a dot (DNS-rebinding protection); on every route |
| `invalid_json` | 400 | empty body, malformed JSON, invalid UTF-8, nesting deeper than 1024 levels |
| `unauthorized` | 401 | `RAREWATCH_API_KEYS` is set and a `/v1` request has no valid key; a reload without the admin key; carries `WWW-Authenticate` |
| `forbidden` | 403 | a reload with an API key rather than the admin key, or while `RAREWATCH_ADMIN_KEY` is not set |
| `model_not_found` | 404 | no model with that name, or no such version |
| `not_found` | 404 | no such route |
| `method_not_allowed` | 405 | e.g. `GET` on a detection route |
| `request_timeout` | 408 | the body was still arriving `RAREWATCH_BODY_TIMEOUT_S` seconds after the headers; bodies are received before the queue, so a slow sender holds no place there; closes the connection |
| `reload_failed` | 409 | the newest stored version could not be loaded, verified or warmed up; the version served so far stays |
| `body_too_large` | 413 | body over `RAREWATCH_MAX_BODY_BYTES`; refused from its `Content-Length` before it is read, or while reading a chunked body; closes the connection |
| `limit_exceeded` | 413 | more rows, features or windows than `RAREWATCH_MAX_ROWS`, `RAREWATCH_MAX_FEATURES` or `RAREWATCH_MAX_WINDOWS` allow; the detail names which |
| `unsupported_media_type` | 415 | `Content-Type` missing or not `application/json` (or `application/*+json`) |
| `validation_error` | 422 | the body or query does not fit the schema: strings or booleans where numbers belong (`null` is a missing value), unknown or missing fields, `threshold <= 0`, `version` not a positive integer; see `errors` |
| `non_finite_values` | 422 | `NaN`, `Infinity`, `-Infinity`, numbers beyond a double (`1e400`), or values that overflow float32 once scaled (`1e300`) |
| `feature_mismatch` | 422 | a row or window row with the wrong number of values; `columns` or `series` names that are duplicated or missing, or unknown with `strict` (or `RAREWATCH_STRICT_COLUMNS=true`); the detail names the model's features |
| `not_enough_rows` | 422 | fewer rows than the lookback (the detail says how many are needed), or no windows |
| `invalid_timestamps` | 422 | not one per row, not ISO 8601, or not strictly increasing (duplicates included; a time without a zone counts as UTC); the detail names the first such row, as the CLI does for a time column |
| `invalid_input` | 422 | a `fill` that is not `linear`, `previous`, `zero`, `fixed:<value>` or `none`; both or neither of `values` and `series`; `columns` with `series`; series of different lengths; windows without `lookback` rows |
| `internal_error` | 500 | a bug, including a non-finite score (never returned as a score); quote the `id` |
| `not_ready` | 503 | `/readyz` when no model could be loaded, or once shutdown has begun |
| `model_unavailable` | 503 | a stored model or version whose artifact failed to load or verify (details in the log only) |
| `overloaded` | 503 | every inference slot and every place in the queue is taken, or no slot came free within `RAREWATCH_REQUEST_TIMEOUT_S`, or the client already has `RAREWATCH_MAX_BODY_READS_PER_CLIENT` bodies arriving, or the bodies arriving hold `RAREWATCH_MAX_READING_BYTES`; retry after `Retry-After` seconds |
"""

# shown earlier on the page; the rest are listed at the end of the errors section
SHOWN_ABOVE = {
    "feature_mismatch",
    "validation_error",
    "internal_error",
    "not_ready",
    "reload_failed",
    "forbidden",
    "unauthorized",
    "not_admin",
    "limit_exceeded",
    "overloaded",
}


def doc_errors(captures: Captures) -> str:
    listed = "\n".join(
        f"{refusal.status} `{refusal.code}`, {_lowercase_first(refusal.summary)} "
        f"({_request_text(refusal)}):\n\n{block(refusal.answer)}\n"
        for name, refusal in captures.problems.items()
        if name not in SHOWN_ABOVE
    )
    return f"""\
<a id="errors"></a>
## Errors

Every error is `application/problem+json` (RFC 9457) with a stable `code`:

{block(captures.answer("feature_mismatch"))}

`type` is `urn:rarewatch:problem:<code>`; `title` is the same for every error of a code,
`detail` says what is wrong and how to fix it. Validation errors add `errors`, where and why
(`loc`, `type`, `msg`), at most the first 20:

{block(captures.answer("validation_error"))}

No error ever contains the request body or a value from it (unlike FastAPI's default 422
answer, which echoes every refused input). An internal error carries an `id`, also written to
the server log with the traceback:

{block(captures.answer("internal_error"))}

{ERROR_TABLE}
Examples of the other codes, as captured:

{listed}"""


def _request_text(case: Refusal) -> str:
    sent = "".join(f", `{name}: {value}`" for name, value in case.headers.items())
    return f"`{case.method} {case.path}`{sent}"


def _lowercase_first(text: str) -> str:
    """'No such model' -> 'no such model', but 'NaN, Infinity' stays."""
    first_word = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first_word[1:]) else text[0].lower() + text[1:]


def doc_client(captures: Captures) -> str:
    lookback = captures.served.model["lookback"]
    return f"""\
<a id="client"></a>
## The Python client

`app.client.Client` wraps the routes with httpx; answers are the JSON documents above, as
dicts, and an error answer raises `RarewatchAPIError` with `status`, `code`, `title`, `detail`,
`errors` and `id`. `values` may be lists, a numpy array or a pandas DataFrame (whose column
names are sent as `columns`); timestamps may be strings or timezone-aware datetimes. It sends
no API key and has no reload call (yet): with `RAREWATCH_API_KEYS` set, call the routes with an
HTTP client that sends the `X-API-Key` header.

```python
import pandas as pd

from app.client import Client, RarewatchAPIError

frame = pd.read_csv("artifacts/demo.csv")  # written by `rarewatch serve --demo`
features = ["load", "temperature", "pressure", "flow", "vibration"]

with Client("http://127.0.0.1:8000") as rarewatch:
    rarewatch.ready()                     # {{"status": "ready", "models": [...], "unavailable": []}}
    recent = frame.tail(60)
    answer = rarewatch.detect_last("demo", values=recent[features], timestamps=recent["timestamp"])
    newest = answer["results"][0]
    if newest["is_anomaly"]:
        print(newest["timestamp"], newest["severity"], newest["top_features"][0]["feature"])

    rarewatch.detect("demo", series={{f: recent[f] for f in features}})
    windows = recent[features].to_numpy()[-{2 * lookback}:].reshape(2, {lookback}, len(features))
    rarewatch.detect_windows("demo", windows)            # windows x lookback x features
    rarewatch.models()
    rarewatch.model("demo", version=1)
    rarewatch.health()

    try:
        rarewatch.detect("demo", values=[[1.0, 2.0]])
    except RarewatchAPIError as error:
        print(error.status, error.code, error.detail)    # 422 feature_mismatch row 0 has 2 ...
```
"""
