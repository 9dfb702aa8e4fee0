"""docs/api.md, first part: introduction, running the server, conventions, and the routes."""

# ruff: noqa: E501 (the page's tables have one row a line)

from __future__ import annotations

import re
from typing import Any

from app.api.serve import DEMO_MODEL
from app.settings import Settings
from models.data_quality import FAR_SPREADS, GAP_STEPS, MIN_ROWS_FOR_CONSTANT
from scripts.docs.captures import Captures
from scripts.docs.layout import block
from scripts.docs.requests import BROKEN_MODEL


def doc_intro() -> str:
    return f"""\
# rarewatch HTTP API

rarewatch serves its trained models over HTTP: send a multivariate series, get back a score per
window, which windows are anomalous, how severe they are, which features caused them, and the
events they form. Every example below was captured from a running server: most from
`rarewatch serve --demo` (the demo model trained on rarewatch's demo data) with the default
settings; the keys, CORS and reload examples from the same command started with
`RAREWATCH_API_KEYS`, `RAREWATCH_ADMIN_KEY` and `RAREWATCH_CORS_ORIGINS` set, over a folder that
also holds `{BROKEN_MODEL}`, a copy of the demo model with one byte of its weights changed; the 500
and 503 errors from the same app serving deliberately broken copies of the model, or held at its
bound of concurrent requests. The same examples are in the OpenAPI document, so the interactive
page at `/docs` can send them; `scripts/api_docs.py` captures them all again and rewrites both.

- [Running the server](#running-the-server)
- [Conventions](#conventions)
- [Health: `GET /healthz`, `GET /readyz`](#health)
- [Models: `GET /v1/models`, `GET /v1/models/{{name}}`](#models)
- [Detection: `POST /v1/models/{{name}}/detect`](#detect)
- [The newest window: `POST /v1/models/{{name}}/detect/last`](#detect-last)
- [Pre-made windows: `POST /v1/models/{{name}}/windows`](#windows)
- [What a result means: score, severity, contributions, events](#results)
- [Reloading a model: `POST /v1/models/{{name}}/reload`, SIGHUP](#reload)
- [API keys, the admin key and CORS](#keys)
- [Limits and overload](#limits)
- [Shutting down: SIGTERM](#shutdown)
- [Errors](#errors)
- [The Python client](#client)
"""


def default(setting: str) -> Any:
    """A setting's default, from app.settings (never from the environment)."""
    default = Settings.model_fields[setting].default
    return getattr(default, "value", default)  # an enum's value


def settings_table() -> str:
    d = default
    return f"""\
| variable | default | meaning |
|---|---|---|
| `RAREWATCH_MODEL_DIR` | `{d("model_dir")}` | the model folder (`NAME/VERSION/...`); `--model-dir` wins |
| `RAREWATCH_HOST`, `RAREWATCH_PORT` | `{d("host")}`, `{d("port")}` | where `rarewatch serve` listens (`--host`, `--port` win) |
| `RAREWATCH_MAX_BODY_BYTES` | `{d("max_body_bytes")}` ({d("max_body_bytes") / 2**20:g} MiB) | larger request bodies get 413 `body_too_large` before they are parsed |
| `RAREWATCH_MAX_ROWS` | `{d("max_rows")}` | rows per request: of `values`, `timestamps`, a feature of `series`, a window ([limits](#limits)) |
| `RAREWATCH_MAX_FEATURES` | `{d("max_features")}` | values per row, names in `columns`, features of `series` |
| `RAREWATCH_MAX_WINDOWS` | `{d("max_windows")}` | windows per `/windows` request |
| `RAREWATCH_MAX_CONCURRENT_INFERENCES` | `{d("max_concurrent_inferences")}` | detection requests parsed and scored at once; the others wait ([overload](#overload)) |
| `RAREWATCH_MAX_QUEUED_REQUESTS` | `{d("max_queued_requests")}` | detection requests, their bodies received, that may wait for one of those; past it, 503 `overloaded` at once |
| `RAREWATCH_RETRY_AFTER_S` | `{d("retry_after_s")}` | the `Retry-After` of a 503 `overloaded`, in seconds |
| `RAREWATCH_REQUEST_TIMEOUT_S` | `{d("request_timeout_s")}` | a request still waiting for an inference slot after this many seconds gets 503 `overloaded` |
| `RAREWATCH_BODY_TIMEOUT_S` | `{d("body_timeout_s")}` | a detection body still arriving this many seconds after its headers gets 408 `request_timeout` (and the connection is closed); bodies are received before the request takes a place in the queue |
| `RAREWATCH_MAX_CONNECTIONS_PER_CLIENT` | `{d("max_connections_per_client")}` | connections one client address may hold open at once; a new one past it is closed before anything is read |
| `RAREWATCH_MAX_BODY_READS_PER_CLIENT` | `{d("max_body_reads_per_client")}` | detection bodies one client address may have arriving at once; past it, 503 `overloaded` |
| `RAREWATCH_MAX_READING_BYTES` | `{d("max_reading_bytes")}` ({d("max_reading_bytes") / 2**20:g} MiB) | bytes all the bodies still arriving may hold together (never less than `RAREWATCH_MAX_BODY_BYTES`); past it, 503 `overloaded` |
| `RAREWATCH_HEADER_TIMEOUT_S` | `{d("header_timeout_s")}` | a connection whose request headers are not in this many seconds after their first byte (or after it opened) is closed |
| `RAREWATCH_KEEP_ALIVE_TIMEOUT_S` | `{d("keep_alive_timeout_s")}` | an idle connection between two requests is closed after this many seconds |
| `RAREWATCH_ALLOWED_HOSTS` | none | comma-separated Host names served besides loopback ones (`127.0.0.1`, `localhost`) and, when not bound to loopback, IP addresses and names without a dot (a container's service name); `*`: every name; others get 400 `host_not_allowed` |
| `RAREWATCH_TRUSTED_PROXIES` | none | comma-separated addresses of reverse proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed; nobody's by default |
| `RAREWATCH_SHUTDOWN_GRACE_S` | `{d("shutdown_grace_s")}` | after SIGTERM, how long requests in flight may take to complete ([shutdown](#shutdown)) |
| `RAREWATCH_API_KEYS` | none | comma-separated keys; when set, every `/v1` route and `/metrics` need one of them ([keys](#keys)) |
| `RAREWATCH_ADMIN_KEY` | none | the key for `POST /v1/models/{{name}}/reload`, and for nothing else; without one the route answers 403 |
| `RAREWATCH_METRICS_KEY` | none | a key for `/metrics` only (Prometheus'); when set, `/metrics` needs it or an API key |
| `RAREWATCH_CORS_ORIGINS` | none | comma-separated browser origins allowed to call the API (CORS) |
| `RAREWATCH_STRICT_COLUMNS` | `{str(d("strict_columns")).lower()}` | `true`: a detection request naming a column that is not a model feature gets 422 `feature_mismatch` (a request's `strict: false` still ignores it); `false`: such columns are ignored and listed in `ignored_columns` |
| `RAREWATCH_TOP_FEATURES` | `{d("top_features")}` | how many features each result lists in `top_features` |
| `RAREWATCH_MAX_LOADED_MODELS` | `{d("max_loaded_models")}` | models (their default version) kept in memory at once; past it the least recently used is unloaded, and loaded again on its next request |
| `RAREWATCH_MAX_LOADED_MODELS_MB` | `{d("max_loaded_models_mb")}` | MiB the models in memory may take together, by an estimate of each (its weights twice plus about 0.5 MiB for its engine); past it the least recently used are unloaded, the model just loaded always kept; `0`: no memory budget |
| `RAREWATCH_MAX_OLDER_VERSIONS` | `{d("max_older_versions")}` | older versions (asked for with `?version=`) kept loaded at once |
| `RAREWATCH_RESCAN_INTERVAL_S` | `{d("rescan_interval_s")}` | seconds between two rescans of the model folder (new models, new versions), as on SIGHUP; `0`: on SIGHUP only |
| `RAREWATCH_ENGINE` | `{d("engine")}` | `auto`: ONNX Runtime for models stored with an ONNX graph (when onnxruntime is installed), else TensorFlow; `onnx` or `tensorflow` force one |
| `RAREWATCH_ACCESS_LOG` | `{str(d("access_log")).lower()}` | `true`: a line per request on stdout (`/metrics` counts requests either way) |
| `RAREWATCH_KEEP_FREED_MEMORY_MB` | `{d("keep_freed_memory_mb")}` | freed memory `serve` keeps for the next request rather than returning it to the OS (glibc's malloc); large `/detect` bodies then reuse it instead of faulting in fresh pages. `0`: glibc's defaults, less resident memory after a large request |
"""


def settings_table_drift() -> list[str]:
    """Settings the table does not name, and names in it that are no setting (reported, so that
    it is kept up to date)."""
    documented = {name.lower() for name in re.findall(r"RAREWATCH_(\w+)", settings_table())}
    settings = set(Settings.model_fields)
    return [
        *(f"RAREWATCH_{n.upper()} is not in the settings table" for n in sorted(settings - documented)),
        *(f"RAREWATCH_{n.upper()} is in the settings table but no setting" for n in sorted(documented - settings)),
    ]  # fmt: skip


def doc_running() -> str:
    return f"""\
## Running the server

```
rarewatch [--model-dir DIR] serve [--host 127.0.0.1] [--port 8000] [--demo]
```

One uvicorn worker (scale with replicas, not workers). At start-up the model folder is
scanned: every model's newest version is checked against its SHA-256 manifest and its
`detector.json` validated, and nothing is loaded, so a thousand models start in seconds; the
server starts listening once that is done. Each model is loaded and warmed up (one series
scored) on its first request, off the event loop and once however many requests ask at the same
time; at most `RAREWATCH_MAX_LOADED_MODELS` stay in memory, and, when
`RAREWATCH_MAX_LOADED_MODELS_MB` is set, no more than that estimated size, the least recently
used unloaded first (and loaded again on its next request). A model whose artifact is broken is
logged and skipped, at start-up or at its first load (then it answers 503 `model_unavailable`);
the others are served. `--demo` first trains the demo model
(`demo`, under a minute on two cores) if the folder has none, and writes its data to
`demo.csv` in the model folder. A new version written while it runs, or a new model, is served after a
[reload](#reload) (`POST /v1/models/{{name}}/reload`, SIGHUP, or every
`RAREWATCH_RESCAN_INTERVAL_S`); SIGTERM [stops it](#shutdown)
gracefully.

Settings come from the environment:

{settings_table()}
`GET /docs` is Swagger UI and `GET /redoc` is ReDoc, their scripts served by rarewatch itself
(from the fastapi-offline package), so both work without internet; `GET /openapi.json` is the OpenAPI document, with examples for every
route and every error. `GET /metrics` is for Prometheus (with a key once keys are set; see
the keys below), in its text format: requests by route,
method and status (overload refusals are the 503s), latency by route, windows scored and
anomalies flagged by model, the last score and severity, the threshold and the version served by
model, and model loads (at start and by reloads) by outcome.
"""


def doc_conventions() -> str:
    return """\
## Conventions

- Bodies are JSON, sent with `Content-Type: application/json` (anything else: 415). Answers are
  `application/json`, errors `application/problem+json`.
- Types are strict: numbers must be JSON numbers (`"1.0"`, `true` and `null` are refused, not
  converted) and finite (`NaN`, `Infinity`, `1e400` are refused). Unknown fields are refused.
- Rows are oldest first. A **window** is `lookback` consecutive rows and its result belongs to
  its last row: a series of `n` rows has `n - lookback + 1` windows, the first ending at row
  `lookback - 1`. `index` in results and events is that row's position in the request (0-based).
- `?version=V` on every `/v1/models/{name}...` route picks a version; without it the newest
  loaded version answers. An older version is loaded on first use; at most
  `RAREWATCH_MAX_OLDER_VERSIONS` of them stay in memory.
- Timestamps are optional, ISO 8601 with a time zone (`Z` or an offset), one per row, strictly
  increasing; results and events then carry the timestamp of their row, as sent.
- With `RAREWATCH_API_KEYS` set, every `/v1` request needs a key ([keys](#keys)); the examples
  below leave it out.
"""


def doc_health(captures: Captures) -> str:
    return f"""\
<a id="health"></a>
## Health

`GET /healthz` never touches a model: 200 as long as the process answers.

{block(captures.served.health)}

`GET /readyz`: 200 once the model folder is scanned and every model's newest version checked
(manifest and `detector.json`; each model loads on its first request), with the models served
and, under `unavailable`, the stored models that could not be checked or loaded, with why (the model folder's path
replaced by `$RAREWATCH_MODEL_DIR`; the server log has the details). Ready as long as at least
one model is served. With `RAREWATCH_API_KEYS` set, a request without a key gets the status
alone (`{{"status":"ready"}}`, or the 503). From the server whose folder also holds the broken
`{BROKEN_MODEL}`, asked with a key:

{block(captures.secured.ready)}

503 `not_ready` when no model passed its check (every stored model is broken, or there is none),
and from the moment the server is asked to stop ([SIGTERM](#shutdown)); `unavailable` is there
when stored models failed. The server only starts listening once the scan is done, so while it
scans, connections are refused rather than answered 503. From a folder holding only `{BROKEN_MODEL}`:

{block(captures.answer("not_ready"))}
"""


def doc_models(captures: Captures) -> str:
    return f"""\
<a id="models"></a>
## Models

`GET /v1/models` lists the models served by name, at their default (newest) version, loaded or
not (none is loaded to list it), and under `unavailable` every stored model that failed its
check or its load, with why, as `/readyz` does. At most `limit` models (1 to 1000, 1000 by
default) come in one answer; `next_cursor`, when not null, is the `cursor` of the next page
(`GET /v1/models?limit=100&cursor=pump-0099`). From the
server whose folder also holds the broken `{BROKEN_MODEL}`:

{block(captures.secured.models)}

`GET /v1/models/{{name}}[?version=V]` describes one version: its features and lookback, what a
score averages over (`score_on`), the threshold and how it was chosen, the quantiles of the
reconstruction error on held-out normal windows (severity is computed from the median, `"0.5"`),
the network, the layer table (layer, output shape, parameters), the training summary and the
library versions it was trained with. Describing an older version reads its files; it does not
load it. A model that `rarewatch watch` scores (and refits) also has `watch`: the version the
watch uses, since when, and why it changed (`"watch started"`, or the rows a refit was fitted
on); the demo model below was never watched, so its answer has none.

```
curl -s http://127.0.0.1:8000/v1/models/{DEMO_MODEL}
```

{block(captures.served.model)}
"""


def doc_detect(captures: Captures) -> str:
    sample = captures.sample
    lookback = captures.served.model["lookback"]
    last_row = sample.n_rows - 1
    return f"""\
<a id="detect"></a>
## `POST /v1/models/{{name}}/detect`

Scores every window of a series. The body:

| field | type | |
|---|---|---|
| `values` | rows x features, numbers or `null` | the series, oldest row first; `null` is a missing value ([missing values](#missing)) |
| `columns` | feature names | optional: the order of the columns of `values`; they are put in the model's order. Each model feature exactly once (duplicated or missing names: 422 naming the model's features); other columns are ignored and listed in the answer's `ignored_columns` by position (`columns[4]`), or refused with `strict`. Without it, columns are in the model's order. |
| `series` | `{{feature: [numbers or null]}}` | instead of `values` + `columns`: the columnar shape dashboard queries produce; every model feature once (other keys ignored as other columns are), all lists the same length |
| `timestamps` | strings | optional: one ISO 8601 time per row, strictly increasing; a time without a zone is read as UTC and the answer's `notes` say so |
| `threshold` | number > 0 | optional: overrides the model's threshold for this request only |
| `fill` | string, or `{{"method", "max_gap"}}` | optional: how missing values are filled for this request: `linear`, `previous`, `zero`, `fixed:<value>` or `none`; default: the policy the model was trained with |
| `strict` | boolean | optional: `true` refuses columns that are not model features (422 `feature_mismatch`); default `RAREWATCH_STRICT_COLUMNS` (false) |

The demo data's rows {sample.first_row}-{sample.first_row + last_row}, around a vibration fault that starts at row \
{sample.first_row + sample.fault_index}
(`index` {sample.fault_index} in this request):

```
curl -s http://127.0.0.1:8000/v1/models/{DEMO_MODEL}/detect \\
  -H 'Content-Type: application/json' -d @body.json
```

{block(sample.rows)}

The same series in columns:

{block(sample.series)}

The answer (the same for both): the model (name, version, lookback, its stored threshold,
features), the threshold applied, one result per window ({sample.n_rows} rows and a lookback of \
{lookback} make
{sample.n_rows - lookback + 1} windows, `index` {lookback - 1} to {last_row}), and the events.

{block(captures.served.detect)}

Besides the results, every answer says what it did with the input: `fill` (the policy applied,
the cells filled and left missing per feature, the windows not scored), `ignored_columns` and
`notes`; each result carries `filled_share`, the share of its window's cells that were filled.
And every answer judges the input against the model's training data in `data_quality`
([data quality](#data-quality)); each result carries `out_of_range` and
`out_of_range_features`.

<a id="missing"></a>
### Missing values, extra columns and timestamps

One contract for the API, the command line and the web page (`models/input_contract.py`):

- **Missing values.** `null` in `values`, `series` or `windows`; in files, an empty cell,
  `NA`, `N/A`, `NaN` or `null` (and their usual cases), and Parquet nulls. Other text, `Infinity`
  and numbers past a double (`1e400`) stay refused.
- **Fill.** Each feature's gaps of at most `max_gap` rows are filled: `linear` draws a straight
  line between the values on either side (at the start or the end of a series, where there is
  no second value, it carries the nearest one), `previous` carries the value before the gap
  forward, `zero` and `fixed:<value>` write that value in the feature's own units, `none` fills
  nothing. A longer gap is left missing whole, never half-filled. The policy is a training option
  (`rarewatch train --fill --max-gap`, stored with the model) and the default for scoring; a
  request's `fill` (or `rarewatch score --fill --max-gap`) overrides it. The default is `linear`
  with `max_gap` 3: a dropped scrape or two is the common gap, and a line across it barely moves
  a window's score, while a longer gap filled would be data the model scores as if it had been
  seen.
- **Windows not scored.** A window still holding a missing value after the fill has `score`,
  `severity` null, no `top_features`, `is_anomaly` false and a `reason`; it never alarms. It
  ends a running event (the event before it and the one after it are two events), and the alarm
  rule's count of windows in a row (`alarm_after`) starts again after it; an alarm held
  (`alarm_hold`) counts it and runs on past it, never raising it. `/windows` fills each
  window from its own rows. Training fills the same way and leaves windows still holding a
  missing value out of training and validation; `training.filled_cells` and
  `training.windows_left_out` in the model's description say how many.
- **Extra columns** are ignored and listed in `ignored_columns` by their position, never by
  their name (an answer never repeats the client's text); `strict: true` or
  `RAREWATCH_STRICT_COLUMNS=true` refuses them with 422 `feature_mismatch` as before.
- **Timestamps** without a time zone are read as UTC, with a note in `notes`, everywhere: the
  dashboards and files that omit the zone almost always mean UTC, and refusing them turned away
  data that the CLI and the page already read. Timestamps that repeat or go back are refused
  everywhere with 422 `invalid_timestamps` naming the first such row (the CLI: the data row of
  the time column): sorting or dropping them would score another series than the one sent.

A request with gaps: `load` misses its first four values (a gap longer than `max_gap`: the
windows holding it are not scored), `temperature` one value near the end (filled):

{block(captures.served.gaps_request)}

{block(captures.served.gaps)}

<a id="data-quality"></a>
### Data quality

A score is only as good as the model's acquaintance with the data: a model trained on one
system scores another system's data, or a sensor that went far past anything seen in training,
with confidence and no meaning. `data_quality` says what about the rows sent the training data
did not prepare the model for (`models/data_quality.py`; the CLI's `score` prints the same
verdict as a line and adds its columns, the web page shows it as a panel):

- **Out of range.** Each feature with values outside its training minimum and maximum, by how
  far in training spreads (the scaler's scale), with its first and its farthest row and how many
  rows lie outside. A window holding a value more than `far_spreads` ({FAR_SPREADS:g}) spreads out gets
  `out_of_range: true` and the features in `out_of_range_features`, so that a dashboard can tell
  "the model has never seen this" from "this looks like an anomaly". Such a window still alarms
  only by its score: `out_of_range` never changes `is_anomaly` (docs/benchmarks.md, "Out-of-range
  input", measures both choices on public data).
- **Constant and newly varying features.** `constant_features`: constant in the rows sent where
  training varied (a stuck sensor, a dead exporter); judged from {MIN_ROWS_FOR_CONSTANT} values of a feature on,
  since a dashboard's few rows often repeat a slow sensor's value. `varied_features`: the reverse.
- **Time steps** (with `timestamps`): the steps between rows against the training rows' median
  step: `gaps` (steps of {GAP_STEPS:g} training steps or more) and the samples they skip, `irregular_steps`
  (neither about one step nor a gap), and whether the median step differs. Models trained
  without a time column store no step: only the median step sent is given.
- **Missing cells** as sent and the cells the fill filled, per feature (`fill` has the policy
  and what it left missing).
- `not_judged` lists the checks the rows could not answer; `ok` is true when nothing was found.

`/detect/last` judges every row sent (a value far out in an earlier row is named in
`out_of_range`, while its one result is flagged only when its window holds one); `/windows`
judges each window's own rows and has no time steps (windows carry no timestamps). The rows
above with one `load` value far above its training range, at `/detect/last`:

{block(captures.served.out_of_range_request)}

{block(captures.served.out_of_range)}

<a id="detect-last"></a>
## `POST /v1/models/{{name}}/detect/last`

The same body as `/detect`, but only the newest window (the one ending at the last row) is
scored: the call a dashboard makes on every refresh. Send at least `lookback` rows; only the
last `lookback` are scaled and scored, so the model's cost does not grow with the series. A
model trained with an alarm rule or smoothing (`alarm_after`, `alarm_hold`, `smoothing`)
decides its newest window from the windows before it too: send `lookback +
alarm_after - 1 + alarm_hold + smoothing - 1` rows for the answer `/detect` gives that window
(fewer: it answers from the windows it has, as the first windows of `/detect` do).
Scoring one window takes about 0.2 ms with ONNX Runtime, so this route runs on the event loop
rather than in a thread pool (measured faster that way). With the body above, its result is
the `/detect` result at `index` {last_row}, with an event only if that window is anomalous:

{block(captures.served.detect_last)}

<a id="windows"></a>
## `POST /v1/models/{{name}}/windows`

Already-temporalized input, windows x lookback x features, as the network is fed; `columns`
and `threshold` as for `/detect`. One result per window; `index` is the window's position in
the request and there are no timestamps. `data_quality` judges each window's rows on their own
(range, constancy, missing cells) and lists the time steps in `not_judged`. The first and the last window of the series above
(they score as `/detect`'s results at `index` {lookback - 1} and {last_row}):

{block(captures.served.windows_request)}

{block(captures.served.windows)}
"""
