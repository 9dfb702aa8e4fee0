// rarewatch's web page: read a CSV in the browser, send it to POST /v1/models/{name}/detect,
// draw the series, the scores, the threshold and the events as SVG. No framework, no build
// step, nothing loaded from elsewhere; every text from the CSV or an answer goes in through
// textContent or an attribute, never as HTML.
"use strict";

(() => {
  const SVG_NS = "http://www.w3.org/2000/svg";
  // A long CSV goes in several requests of at most CHUNK_ROWS rows (and about CHUNK_BYTES of
  // JSON, far below the server's 16 MiB default), each overlapping the previous one by
  // lookback - 1 rows so that every window is scored exactly once.
  const CHUNK_ROWS = 5000;
  const CHUNK_BYTES = 2 * 1024 * 1024;
  const MAX_RETRIES = 3; // on 503 overloaded, after the server's Retry-After
  const PALETTE = ["#1f5fbf", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#5d4037",
    "#455a64", "#9e9d24", "#283593"];
  const MARGIN = { left: 64, right: 14, top: 20, bottom: 6 };
  const AXIS_HEIGHT = 22;

  const $ = (id) => document.getElementById(id);

  const state = {
    models: [],
    fileText: null,
    fileName: null,
    source: null, // "file" or "paste": whichever the user touched last
    run: 0, // a newer run makes the older one's answers stale
    shown: null, // what is drawn: {table, model, detection}
    view: null, // [first row, last row] drawn
    drag: null,
  };

  // ---------------------------------------------------------------- the API

  class ProblemError extends Error {
    constructor(status, problem, retryAfter) {
      super(problem.detail || problem.title || `HTTP ${status}`);
      this.status = status;
      this.problem = problem;
      this.retryAfter = retryAfter;
    }
  }

  async function call(path, init = {}) {
    const headers = { Accept: "application/json, application/problem+json" };
    const key = $("api-key").value.trim();
    if (key) headers["X-API-Key"] = key;
    if (init.body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, { ...init, headers, credentials: "omit", cache: "no-store" });
    } catch (error) {
      throw new ProblemError(0, { title: "The server cannot be reached", detail: String(error) });
    }
    const text = await response.text();
    let body = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!response.ok) {
      const problem = body && typeof body === "object" ? body
        : { title: response.statusText || "Error", detail: text.slice(0, 300) };
      throw new ProblemError(response.status, problem, Number(response.headers.get("Retry-After")));
    }
    return body;
  }

  async function detect(name, body) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await call(`v1/models/${encodeURIComponent(name)}/detect`, {
          method: "POST",
          body: JSON.stringify(body),
        });
      } catch (error) {
        const busy = error instanceof ProblemError && error.status === 503
          && error.problem.code === "overloaded" && attempt < MAX_RETRIES;
        if (!busy) throw error;
        await new Promise((done) => setTimeout(done, 1000 * (error.retryAfter || 1)));
      }
    }
  }

  // ---------------------------------------------------------------- reading the CSV

  class InputError extends Error {}

  function separatorOf(line) {
    const counts = { ",": 0, ";": 0, "\t": 0 };
    let quoted = false;
    for (const ch of line) {
      if (ch === '"') quoted = !quoted;
      else if (!quoted && ch in counts) counts[ch] += 1;
    }
    let best = ",";
    for (const sep of [";", "\t"]) if (counts[sep] > counts[best]) best = sep;
    return best;
  }

  // RFC 4180 records: quoted fields may hold the separator, "" and line breaks.
  function recordsOf(text, sep) {
    const records = [];
    let record = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const ch = text[i];
      if (quoted) {
        if (ch === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 1;
          } else {
            quoted = false;
          }
        } else {
          field += ch;
        }
      } else if (ch === '"' && field.trim() === "") {
        quoted = true;
        field = "";
      } else if (ch === sep) {
        record.push(field);
        field = "";
      } else if (ch === "\n" || ch === "\r") {
        if (ch === "\r" && text[i + 1] === "\n") i += 1;
        record.push(field);
        records.push(record);
        record = [];
        field = "";
      } else {
        field += ch;
      }
    }
    if (field !== "" || record.length) {
      record.push(field);
      records.push(record);
    }
    return records.filter((r) => r.some((cell) => cell.trim() !== ""));
  }

  const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
  // a missing value, sent as null and filled by the model's fill policy (as the CLI reads them)
  const MISSING = new Set(["", "NA", "N/A", "n/a", "NaN", "nan", "NAN", "null", "NULL", "Null"]);

  function numberOf(cell, decimalComma) {
    let text = cell.trim();
    if (decimalComma) text = text.replace(",", ".");
    return NUMBER.test(text) ? Number(text) : NaN;
  }

  // ISO 8601 dates and times; the zone is optional here (a time without one is read as UTC).
  const TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2})(:\d{2}(?:[.,]\d{1,9})?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

  function timeOf(cell) {
    const match = TIME.exec(cell.trim());
    if (!match) return null;
    const [, date, hhmm = "00:00", rest = ":00", zone] = match;
    const seconds = rest.replace(",", ".");
    let offset = "Z";
    if (zone && zone.toUpperCase() !== "Z") {
      const digits = zone.replace(":", "");
      offset = `${digits.slice(0, 3)}:${digits.slice(3, 5) || "00"}`;
    }
    // JavaScript dates keep milliseconds: finer fractions are cut for the order check only
    const ms = Date.parse(`${date}T${hhmm}${seconds.slice(0, 7)}${offset}`);
    if (Number.isNaN(ms)) return null;
    // sent in one canonical ISO 8601 form; a time without a zone is read as UTC
    return { text: `${date}T${hhmm}${seconds}${offset}`, ms, zoned: Boolean(zone) };
  }

  function clip(text, n = 24) {
    return text.length > n ? `${text.slice(0, n)}…` : text;
  }

  function readTable(text, features) {
    const clean = text.replace(/^\uFEFF/, "");
    const firstLine = clean.split(/\r?\n/, 1)[0] || "";
    const sep = separatorOf(firstLine);
    const records = recordsOf(clean, sep);
    if (!records.length) throw new InputError("The CSV is empty.");
    const notes = [];
    let header = records[0].map((cell) => cell.trim());
    let body = records.slice(1);
    if (header.every((cell) => !Number.isNaN(numberOf(cell, sep !== ",")))) {
      if (header.length !== features.length) {
        throw new InputError(
          `The first row holds no column names. Add a header row naming the model's features: ${features.join(", ")}.`);
      }
      header = features.slice();
      body = records;
      notes.push(`no header row: the columns were read as ${features.join(", ")}`);
    }
    const sample = body.slice(0, 20);
    const decimalComma = sep !== "," && sample.some(
      (record) => record.some((cell) => /^\s*[+-]?\d+,\d+\s*$/.test(cell)));

    const columnOf = {};
    const missing = [];
    for (const feature of features) {
      let at = header.indexOf(feature);
      if (at < 0) at = header.findIndex((name) => name.toLowerCase() === feature.toLowerCase());
      if (at < 0) missing.push(feature);
      else columnOf[feature] = at;
    }
    if (missing.length) {
      throw new InputError(
        `The CSV has no column for ${missing.join(", ")}. The model's features are ` +
        `${features.join(", ")}; the CSV's columns are ${header.map((h) => clip(h)).join(", ")}.`);
    }
    if (!body.length) throw new InputError("The CSV has a header row but no data rows.");

    const nRows = body.length;
    const values = new Array(nRows);
    let missingCells = 0;
    for (let r = 0; r < nRows; r += 1) {
      const record = body[r];
      const row = new Array(features.length);
      for (let f = 0; f < features.length; f += 1) {
        const cell = record[columnOf[features[f]]];
        if (cell === undefined || MISSING.has(cell.trim())) {
          row[f] = null;
          missingCells += 1;
          continue;
        }
        const value = numberOf(cell, decimalComma);
        if (!Number.isFinite(value)) {
          throw new InputError(
            `Data row ${r + 1}: ${features[f]} is not a number (found "${clip(cell.trim())}"). ` +
            "Every feature needs a finite number, or an empty cell where a value is missing.");
        }
        row[f] = value;
      }
      values[r] = row;
    }

    const featureColumns = new Set(Object.values(columnOf));
    let timeColumn = null;
    let timestamps = null;
    for (let c = 0; c < header.length && timeColumn === null; c += 1) {
      if (featureColumns.has(c)) continue;
      const times = [];
      for (const record of body) {
        const time = timeOf(record[c] || "");
        if (!time) break;
        times.push(time);
      }
      if (times.length !== nRows) continue;
      timeColumn = header[c];
      // the API's rule: times strictly increase, or the first row that does not is refused
      const wrong = times.findIndex((t, i) => i > 0 && t.ms <= times[i - 1].ms);
      if (wrong > 0) {
        const how = times[wrong].ms === times[wrong - 1].ms ? "repeats" : "is earlier than";
        throw new InputError(
          `Data row ${wrong + 1}: the time in ${clip(timeColumn)} ${how} the row before's; ` +
          "times must strictly increase.");
      }
      timestamps = times.map((t) => t.text);
      if (times.some((t) => !t.zoned)) {
        notes.push("timestamps without a time zone were read as UTC");
      }
    }
    if (missingCells) notes.push(`${missingCells} empty or NA ${missingCells === 1 ? "cell" : "cells"} sent as missing values`);
    const ignored = header.filter((name, c) => !featureColumns.has(c) && name !== timeColumn);
    const timeMs = timestamps ? timestamps.map((t) => timeOf(t).ms) : null;
    return { features, values, timestamps, timeMs, timeColumn, ignored, notes, nRows, missing: missingCells };
  }

  // ---------------------------------------------------------------- detection in chunks

  function chunkRows(table, lookback) {
    let widest = 0;
    for (let r = 0; r < Math.min(table.nRows, 200); r += 1) {
      let bytes = JSON.stringify(table.values[r]).length + 1;
      if (table.timestamps) bytes += table.timestamps[r].length + 3;
      widest = Math.max(widest, bytes);
    }
    const byBytes = Math.floor(CHUNK_BYTES / (1.5 * widest));
    return Math.max(2 * lookback, Math.min(CHUNK_ROWS, byBytes));
  }

  async function detectAll(model, table, threshold, progress, isStale) {
    const lookback = model.lookback;
    const perChunk = chunkRows(table, lookback);
    const results = [];
    const events = [];
    let answer = null;
    let requests = 0;
    const fill = { unscored: 0, method: null, maxGap: null };
    const quality = newQuality();
    const ignored = new Set();
    for (let start = 0; ; start = Math.max(start + 1, start + perChunk - (lookback - 1))) {
      const end = Math.min(table.nRows, start + perChunk);
      if (table.nRows > perChunk) progress(`Scoring rows ${start + 1}–${end} of ${table.nRows}…`);
      const body = { values: table.values.slice(start, end), columns: table.features };
      if (table.timestamps) body.timestamps = table.timestamps.slice(start, end);
      if (threshold !== null) body.threshold = threshold;
      try {
        answer = await detect(model.name, body);
      } catch (error) {
        if (table.nRows > perChunk && error instanceof ProblemError) error.rows = [start + 1, end];
        throw error;
      }
      requests += 1;
      if (isStale()) return null;
      // chunks share lookback - 1 rows but never a window: unscored windows add up exactly
      fill.method = answer.fill.method;
      fill.maxGap = answer.fill.max_gap;
      fill.unscored += answer.fill.unscored_windows;
      addQuality(quality, answer.data_quality, start);
      for (const column of answer.ignored_columns) ignored.add(column);
      for (const result of answer.results) {
        result.index += start;
        results.push(result);
      }
      for (const event of answer.events) {
        for (const key of ["start_index", "end_index", "peak_index"]) event[key] += start;
        const last = events[events.length - 1];
        if (last && start > 0 && last.end_index + 1 === event.start_index) {
          events[events.length - 1] = joined(last, event, results);
        } else {
          events.push(event);
        }
      }
      if (end >= table.nRows) break;
    }
    return {
      model: answer.model, threshold: answer.threshold, results, events, requests, fill, quality,
      ignoredColumns: [...ignored],
    };
  }

  // The answers' data_quality over every chunk. Rows and windows are the table's; windows are
  // exact (chunks never share one), while the counts of rows, cells and steps include the
  // lookback - 1 rows two chunks share twice (the panel says so when there are several).
  function newQuality() {
    return {
      farSpreads: null, outOfRange: new Map(), outOfRangeWindows: 0, constant: null,
      varied: new Set(), steps: null, missing: 0, filled: 0, notJudged: new Map(),
    };
  }

  function addQuality(quality, answer, start) {
    quality.farSpreads = answer.far_spreads;
    quality.outOfRangeWindows += answer.out_of_range_windows;
    for (const found of answer.out_of_range) {
      const seen = quality.outOfRange.get(found.feature);
      const here = { ...found, worst_row: found.worst_row + start, first_row: found.first_row + start };
      if (!seen) {
        quality.outOfRange.set(found.feature, here);
        continue;
      }
      seen.rows += found.rows;
      seen.far_rows += found.far_rows;
      if (found.worst_spreads > seen.worst_spreads) {
        Object.assign(seen, { worst_spreads: found.worst_spreads, worst_row: here.worst_row, side: found.side });
      }
    }
    // constant: in every chunk that could judge it; varied: in any
    const judged = !answer.not_judged.some((n) => n.check === "constant");
    if (judged) {
      const constant = new Set(answer.constant_features);
      quality.constant = quality.constant === null
        ? constant : new Set([...quality.constant].filter((f) => constant.has(f)));
    }
    for (const feature of answer.varied_features) quality.varied.add(feature);
    const steps = answer.time_steps;
    if (steps) {
      const seen = quality.steps;
      const at = (row) => (row === null ? null : row + start);
      if (!seen) {
        quality.steps = { ...steps, first_gap_row: at(steps.first_gap_row), first_irregular_row: at(steps.first_irregular_row) };
      } else {
        seen.gaps += steps.gaps;
        seen.missing_samples += steps.missing_samples;
        seen.irregular_steps += steps.irregular_steps;
        seen.step_differs ||= steps.step_differs;
        if (steps.longest_gap_seconds !== null) {
          seen.longest_gap_seconds = Math.max(seen.longest_gap_seconds ?? 0, steps.longest_gap_seconds);
        }
        seen.first_gap_row ??= at(steps.first_gap_row);
        seen.first_irregular_row ??= at(steps.first_irregular_row);
      }
    }
    quality.missing += answer.missing.cells;
    quality.filled += answer.filled ? answer.filled.cells : 0;
    for (const n of answer.not_judged) {
      if (n.check !== "constant" || quality.constant === null) quality.notJudged.set(n.check, n.reason);
    }
    if (quality.constant !== null) quality.notJudged.delete("constant");
  }

  // An event cut in two by a chunk boundary, made one again. Its top feature is recomputed from
  // the shares the results list (the top few per window), so it may differ from the server's.
  function joined(first, second, results) {
    const sums = new Map();
    for (const result of results) {
      if (result.index < first.start_index || result.index > second.end_index) continue;
      for (const { feature, share } of result.top_features) {
        sums.set(feature, (sums.get(feature) || 0) + share);
      }
    }
    let top = first.top_feature;
    let best = -1;
    for (const [feature, sum] of sums) {
      if (sum > best) [top, best] = [feature, sum];
    }
    const peak = second.peak_score > first.peak_score ? second : first;
    return {
      ...first,
      end_index: second.end_index,
      end_timestamp: second.end_timestamp,
      n_windows: first.n_windows + second.n_windows,
      peak_index: peak.peak_index,
      peak_timestamp: peak.peak_timestamp,
      peak_score: peak.peak_score,
      top_feature: top,
    };
  }

  // ---------------------------------------------------------------- formatting

  function fmt(value, digits = 3) {
    if (!Number.isFinite(value)) return "–";
    const size = Math.abs(value);
    if (size !== 0 && (size < 1e-3 || size >= 1e6)) return value.toExponential(digits - 1);
    return String(Number(value.toPrecision(digits)));
  }

  const pad2 = (n) => String(n).padStart(2, "0");

  function timeLabel(ms, span) {
    const d = new Date(ms);
    const day = `${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}`;
    const hm = `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
    if (span >= 4 * 86400e3) return `${d.getUTCFullYear()}-${day}`;
    if (span >= 3600e3) return `${day} ${hm}`;
    return `${hm}:${pad2(d.getUTCSeconds())}`;
  }

  function rowLabel(table, row) {
    return table.timestamps ? table.timestamps[row] : `row ${row}`;
  }

  // ---------------------------------------------------------------- SVG charts

  function el(name, attrs = {}, parent = null) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs = {}) {
    const node = el("text", { x, y, ...attrs }, parent);
    node.textContent = content;
    return node;
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }

  function linearTicks(lo, hi, count) {
    for (let want = count; ; want += 1) {
      const step = niceStep(hi - lo, want);
      const ticks = [];
      for (let i = Math.ceil(lo / step); i * step <= hi + step * 1e-9; i += 1) {
        ticks.push(Number((i * step).toPrecision(12)));
      }
      if (ticks.length >= count || want > 4 * count) return ticks;
    }
  }

  function logTicks(lo, hi) {
    const ticks = [];
    const first = Math.floor(Math.log10(lo));
    const last = Math.ceil(Math.log10(hi));
    const multiples = last - first <= 2 ? [1, 2, 5] : [1];
    for (let p = first; p <= last; p += 1) {
      for (const m of multiples) {
        const v = m * 10 ** p;
        if (v >= lo && v <= hi) ticks.push(v);
      }
    }
    return ticks;
  }

  // The points of one line over rows v0..v1; past two points per pixel, each pixel's column
  // keeps its lowest and highest value (in row order), so spikes survive the thinning.
  function pathOf(values, v0, v1, xOf, yOf, plotWidth) {
    const parts = [];
    let pen = "M";
    const n = v1 - v0 + 1;
    const point = (i) => {
      const v = values[i];
      if (!Number.isFinite(v)) {
        pen = "M";
        return;
      }
      parts.push(`${pen}${xOf(i).toFixed(1)},${yOf(v).toFixed(1)}`);
      pen = "L";
    };
    if (n <= 2 * plotWidth) {
      for (let i = v0; i <= v1; i += 1) point(i);
      return parts.join("");
    }
    const perPixel = n / plotWidth;
    for (let px = 0; px < plotWidth; px += 1) {
      const from = v0 + Math.floor(px * perPixel);
      const to = Math.min(v1, v0 + Math.floor((px + 1) * perPixel) - 1);
      let lo = -1;
      let hi = -1;
      for (let i = from; i <= to; i += 1) {
        if (!Number.isFinite(values[i])) continue;
        if (lo < 0 || values[i] < values[lo]) lo = i;
        if (hi < 0 || values[i] > values[hi]) hi = i;
      }
      if (lo < 0) {
        pen = "M";
        continue;
      }
      point(Math.min(lo, hi));
      if (lo !== hi) point(Math.max(lo, hi));
    }
    return parts.join("");
  }

  function extent(values, v0, v1) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = v0; i <= v1; i += 1) {
      const v = values[i];
      if (Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
    return [lo, hi];
  }

  function render() {
    const shown = state.shown;
    const box = $("charts");
    box.replaceChildren();
    if (!shown) return;
    const { table, detection } = shown;
    const [v0, v1] = state.view;
    const width = Math.max(320, Math.floor(box.clientWidth - 16));
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const span = Math.max(1, v1 - v0);
    const xOf = (i) => MARGIN.left + ((i - v0) / span) * plotWidth;
    const rowAt = (px) => Math.min(v1, Math.max(v0, Math.round(v0 + ((px - MARGIN.left) / plotWidth) * span)));
    const events = detection.events.filter((e) => e.end_index >= v0 && e.start_index <= v1);
    const featureHeight = table.features.length > 8 ? 64 : 92;
    const charts = [];

    const addChart = (height, title, withAxis, above = 0) => {
      const total = MARGIN.top + above + height + MARGIN.bottom + (withAxis ? AXIS_HEIGHT : 0);
      const svg = el("svg", { width, height: total, viewBox: `0 0 ${width} ${total}`, role: "img" }, box);
      svg.setAttribute("aria-label", title);
      const top = MARGIN.top + above;
      const bottom = top + height;
      text(svg, 4, 13, title, { class: "chart-title" });
      const chart = { svg, top, bottom, height };
      charts.push(chart);
      return chart;
    };

    const yAxis = (chart, ticks, yOf, format) => {
      const g = el("g", { class: "axis" }, chart.svg);
      for (const t of ticks) {
        const y = yOf(t);
        el("line", { x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: y, y2: y }, g);
        text(g, MARGIN.left - 6, y + 3.5, format(t), { "text-anchor": "end" });
      }
    };

    const bands = (chart, feature) => {
      const g = el("g", {}, chart.svg);
      for (const event of events) {
        const a = Math.max(MARGIN.left, xOf(event.start_index - 0.5));
        const b = Math.min(MARGIN.left + plotWidth, xOf(event.end_index + 0.5));
        const top = feature !== null && event.top_feature === feature;
        el("rect", {
          class: top ? "event-band top" : "event-band",
          x: a, y: chart.top, width: Math.max(2, b - a), height: chart.height,
        }, g);
      }
    };

    // the score, the threshold and the anomalous windows
    // room above the plot for the events' numbers
    const score = addChart(150, "score (reconstruction error)", false, 12);
    const threshold = detection.threshold;
    const log = $("log-scale").checked;
    let [lo, hi] = extent(detection.scores, v0, v1);
    if (!Number.isFinite(lo)) [lo, hi] = [threshold / 2, threshold * 2];
    let yScore;
    let ticks;
    if (log) {
      const positive = Math.max(lo, threshold * 1e-3, 1e-12);
      const bottom = Math.min(positive, threshold) / 1.25;
      const top = Math.max(hi, threshold) * 1.25;
      const [l0, l1] = [Math.log10(bottom), Math.log10(top)];
      yScore = (v) => score.bottom - ((Math.log10(Math.max(v, bottom)) - l0) / (l1 - l0)) * score.height;
      ticks = logTicks(bottom, top);
    } else {
      const top = Math.max(hi, threshold) * 1.08;
      yScore = (v) => score.bottom - (Math.max(0, v) / top) * score.height;
      ticks = linearTicks(0, top, 4);
    }
    yAxis(score, ticks, yScore, fmt);
    bands(score, null);
    el("path", { class: "score", d: pathOf(detection.scores, v0, v1, xOf, yScore, plotWidth) }, score.svg);
    const yThreshold = yScore(threshold);
    el("line", { class: "threshold", x1: MARGIN.left, x2: MARGIN.left + plotWidth, y1: yThreshold, y2: yThreshold }, score.svg);
    const legend = text(score.svg, MARGIN.left + plotWidth, 13, "", { "text-anchor": "end" });
    el("tspan", { class: "threshold-label" }, legend).textContent = `- - threshold ${fmt(threshold)}`;
    el("tspan", { class: "chart-note" }, legend).textContent = log ? " · log scale" : "";
    const flagged = detection.results.filter((r) => r.is_anomaly && r.index >= v0 && r.index <= v1);
    if (flagged.length <= 800) {
      const g = el("g", {}, score.svg);
      for (const r of flagged) el("circle", { class: "anomaly", cx: xOf(r.index), cy: yScore(r.score), r: 2.2 }, g);
    }
    const labels = el("g", {}, score.svg);
    let lastLabel = -Infinity;
    for (const event of events) {
      const x = Math.max(MARGIN.left + 6, xOf((event.start_index + event.end_index) / 2));
      if (x - lastLabel < 22) continue;
      text(labels, x, score.top - 3, `#${event.number}`, { class: "event-label", "text-anchor": "middle" });
      lastLabel = x;
    }

    // one chart per feature, each on its own scale
    table.features.forEach((feature, f) => {
      const last = f === table.features.length - 1;
      const chart = addChart(featureHeight, feature, last);
      const values = table.columns[f];
      let [flo, fhi] = extent(values, v0, v1);
      if (flo === fhi) [flo, fhi] = [flo - (Math.abs(flo) || 1) * 0.05, fhi + (Math.abs(fhi) || 1) * 0.05];
      const padY = (fhi - flo) * 0.06;
      const [ylo, yhi] = [flo - padY, fhi + padY];
      const yOf = (v) => chart.bottom - ((v - ylo) / (yhi - ylo)) * chart.height;
      yAxis(chart, linearTicks(ylo, yhi, 3), yOf, fmt);
      bands(chart, feature);
      el("path", {
        class: "series", stroke: PALETTE[f % PALETTE.length],
        d: pathOf(values, v0, v1, xOf, yOf, plotWidth),
      }, chart.svg);
      if (last) xAxis(chart);
    });

    function xAxis(chart) {
      const g = el("g", { class: "axis" }, chart.svg);
      const y = chart.bottom + MARGIN.bottom + 12;
      const count = Math.max(2, Math.floor(plotWidth / 120));
      const step = Math.max(1, niceStep(span, count));
      const timeSpan = table.timeMs ? table.timeMs[v1] - table.timeMs[v0] : 0;
      for (let i = Math.ceil(v0 / step) * step; i <= v1; i += step) {
        const x = xOf(i);
        el("line", { x1: x, x2: x, y1: chart.bottom, y2: chart.bottom + 4 }, g);
        const label = table.timeMs ? timeLabel(table.timeMs[i], timeSpan) : String(i);
        const half = label.length * 3.2; // about half the label's width at 11px
        let anchor = "middle";
        if (x + half > width) anchor = "end";
        else if (x - half < MARGIN.left - 20) anchor = "start";
        text(g, anchor === "end" ? width - 2 : x, y, label, { "text-anchor": anchor });
      }
      text(g, 4, y, table.timeMs ? "UTC" : "row", {});
    }

    for (const chart of charts) {
      el("rect", { class: "frame", x: MARGIN.left, y: chart.top, width: plotWidth, height: chart.height }, chart.svg);
      chart.cursor = el("line", { class: "cursor", y1: chart.top, y2: chart.bottom, visibility: "hidden" }, chart.svg);
      chart.selection = el("rect", { class: "selection", y: chart.top, height: chart.height, visibility: "hidden" }, chart.svg);
      const plot = el("rect", {
        class: "plot", x: MARGIN.left, y: chart.top, width: plotWidth, height: chart.height,
        fill: "transparent",
      }, chart.svg);
      const pointer = (event) => {
        const bounds = chart.svg.getBoundingClientRect();
        return event.clientX - bounds.left;
      };
      plot.addEventListener("mousemove", (event) => {
        const px = pointer(event);
        const row = rowAt(px);
        for (const c of charts) {
          c.cursor.setAttribute("x1", xOf(row));
          c.cursor.setAttribute("x2", xOf(row));
          c.cursor.setAttribute("visibility", "visible");
        }
        if (state.drag && state.drag.chart === chart) {
          const a = Math.min(state.drag.px, px);
          chart.selection.setAttribute("x", Math.max(MARGIN.left, a));
          chart.selection.setAttribute("width", Math.abs(px - state.drag.px));
          chart.selection.setAttribute("visibility", "visible");
        }
        showTooltip(event, row);
      });
      plot.addEventListener("mouseleave", () => {
        for (const c of charts) c.cursor.setAttribute("visibility", "hidden");
        $("tooltip").hidden = true;
      });
      plot.addEventListener("mousedown", (event) => {
        event.preventDefault();
        state.drag = { chart, px: pointer(event), row: rowAt(pointer(event)) };
      });
      plot.addEventListener("mouseup", (event) => {
        const drag = state.drag;
        state.drag = null;
        chart.selection.setAttribute("visibility", "hidden");
        if (!drag || drag.chart !== chart || Math.abs(pointer(event) - drag.px) < 5) return;
        zoom(drag.row, rowAt(pointer(event)));
      });
    }
  }

  function showTooltip(event, row) {
    const { table, detection } = state.shown;
    const tip = $("tooltip");
    tip.replaceChildren();
    const line = (content, cls) => {
      const div = document.createElement("div");
      div.textContent = content;
      if (cls) div.className = cls;
      tip.appendChild(div);
    };
    line(rowLabel(table, row) + (table.timestamps ? ` (row ${row})` : ""));
    const result = detection.byRow[row];
    if (result) {
      line(`score ${fmt(result.score)}${result.is_anomaly ? `  anomalous, severity ${fmt(result.severity, 2)}` : ""}`,
        result.is_anomaly ? "alarm" : "");
      if (result.reason) line(`not scored: ${result.reason}`);
      else line(`shares: ${result.top_features.map((t) => `${t.feature} ${fmt(t.share * 100, 2)}%`).join(", ")}`);
      if (result.filled_share) line(`filled: ${fmt(result.filled_share * 100, 2)}% of the window`);
      if (result.out_of_range) line(`out of the training range: ${result.out_of_range_features.join(", ")}`, "note");
    } else {
      line(`no window ends here (the first ends at row ${detection.firstWindow})`);
    }
    for (let f = 0; f < table.features.length && f < 12; f += 1) {
      line(`${table.features[f]} = ${fmt(table.columns[f][row], 5)}`);
    }
    tip.hidden = false;
    const x = event.clientX + 16;
    const fits = x + tip.offsetWidth < window.innerWidth - 8;
    tip.style.left = `${fits ? x : event.clientX - 16 - tip.offsetWidth}px`;
    tip.style.top = `${Math.min(event.clientY + 12, window.innerHeight - tip.offsetHeight - 8)}px`;
  }

  function zoom(a, b) {
    const n = state.shown.table.nRows;
    let [v0, v1] = [Math.min(a, b), Math.max(a, b)];
    if (v1 - v0 < 4) [v0, v1] = [v0 - 2, v1 + 2];
    state.view = [Math.max(0, v0), Math.min(n - 1, v1)];
    $("reset-zoom").hidden = state.view[0] === 0 && state.view[1] === n - 1;
    render();
  }

  // ---------------------------------------------------------------- the events table

  function td(row, content, cls) {
    const cell = document.createElement("td");
    if (content instanceof Node) cell.appendChild(content);
    else cell.textContent = content;
    if (cls) cell.className = cls;
    row.appendChild(cell);
    return cell;
  }

  function chip(content, main) {
    const span = document.createElement("span");
    span.className = main ? "feature-chip main" : "feature-chip";
    span.textContent = content;
    return span;
  }

  function renderEvents() {
    const { table, detection, model } = state.shown;
    const body = $("events").tBodies[0];
    body.replaceChildren();
    $("no-events").hidden = detection.events.length > 0;
    for (const event of detection.events) {
      const tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.topFeature = event.top_feature;
      td(tr, String(event.number), "num");
      td(tr, rowLabel(table, event.start_index));
      td(tr, rowLabel(table, event.end_index));
      td(tr, String(event.n_windows), "num");
      td(tr, fmt(event.peak_score), "num");
      const peak = detection.byRow[event.peak_index];
      td(tr, peak ? fmt(peak.severity, 2) : "–", "num");
      td(tr, chip(event.top_feature, true));
      const shares = document.createElement("span");
      for (const t of peak ? peak.top_features : []) {
        shares.appendChild(chip(`${t.feature} ${fmt(t.share * 100, 2)}%`, false));
      }
      td(tr, shares);
      const pad = Math.max(3 * model.lookback, 2 * (event.end_index - event.start_index), 20);
      const open = () => {
        zoom(event.start_index - pad, event.end_index + pad);
        $("charts").scrollIntoView({ block: "nearest" });
      };
      tr.addEventListener("click", open);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter") open();
      });
      body.appendChild(tr);
    }
  }

  // ---------------------------------------------------------------- the page

  function setStatus(message) {
    $("status").textContent = message;
  }

  function showError(error) {
    const box = $("error");
    box.replaceChildren();
    if (!error) {
      box.hidden = true;
      return;
    }
    const title = document.createElement("strong");
    const detail = document.createElement("div");
    if (error instanceof ProblemError) {
      const p = error.problem;
      const where = error.rows ? ` (rows ${error.rows[0]}–${error.rows[1]})` : "";
      const code = typeof p.code === "string" ? `, ${p.code}` : "";
      title.textContent = `${p.title || "Error"}${where}: HTTP ${error.status}${code}`;
      detail.textContent = typeof p.detail === "string" ? p.detail : "";
      box.append(title, detail);
      if (Array.isArray(p.errors) && p.errors.length) {
        const list = document.createElement("ul");
        for (const e of p.errors) {
          const item = document.createElement("li");
          const loc = Array.isArray(e.loc) ? e.loc.join(" › ") : "";
          item.textContent = `${loc}: ${e.msg || e.type || ""}`;
          list.appendChild(item);
        }
        box.appendChild(list);
      }
      if (error.status === 401) $("key-box").open = true;
    } else {
      title.textContent = error instanceof InputError ? "The CSV cannot be used" : "Error";
      detail.textContent = error.message || String(error);
      box.append(title, detail);
    }
    box.hidden = false;
  }

  function selectedModel() {
    return state.models.find((m) => m.name === $("model").value) || null;
  }

  function describeModel() {
    const model = selectedModel();
    const info = $("model-info");
    if (!model) {
      info.textContent = "";
      return;
    }
    info.textContent = `version ${model.version} · features ${model.features.join(", ")} · ` +
      `lookback ${model.lookback} · threshold ${fmt(model.threshold)} (${model.threshold_method})`;
  }

  async function loadModels() {
    try {
      const listing = await call("v1/models");
      state.models = listing.models;
      const select = $("model");
      select.replaceChildren();
      for (const model of listing.models) {
        const option = document.createElement("option");
        option.value = model.name;
        option.textContent = `${model.name} (v${model.version})`;
        select.appendChild(option);
      }
      if (!listing.models.length) {
        const option = document.createElement("option");
        option.textContent = "no model is served";
        select.appendChild(option);
      }
      const wanted = new URLSearchParams(window.location.search).get("model");
      if (wanted && listing.models.some((m) => m.name === wanted)) select.value = wanted;
      select.disabled = !listing.models.length;
      $("run").disabled = !listing.models.length;
      describeModel();
      showError(null);
      setStatus(listing.unavailable && listing.unavailable.length
        ? `Not available (failed to load): ${listing.unavailable.join(", ")}` : "");
    } catch (error) {
      showError(error);
    }
  }

  function currentText() {
    if (state.source === "paste") return $("csv-text").value;
    if (state.fileText !== null) return state.fileText;
    return $("csv-text").value;
  }

  function thresholdOverride() {
    const raw = $("threshold").value.trim();
    if (!raw) return null;
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
      throw new InputError("The threshold must be a number above 0 (or empty for the model's).");
    }
    return value;
  }

  async function run() {
    const model = selectedModel();
    if (!model) return;
    const runId = (state.run += 1);
    const isStale = () => runId !== state.run;
    showError(null);
    const text = currentText();
    if (!text || !text.trim()) {
      showError(new InputError("Choose a CSV file or paste one."));
      return;
    }
    $("run").disabled = true;
    try {
      const threshold = thresholdOverride();
      setStatus("Reading the CSV…");
      const table = readTable(text, model.features);
      table.columns = model.features.map((_, f) => Float64Array.from(table.values, (row) => row[f] ?? NaN));
      setStatus(`Scoring ${table.nRows} rows with ${model.name}…`);
      const started = performance.now();
      const detection = await detectAll(model, table, threshold, setStatus, isStale);
      if (!detection) return;
      detection.scores = new Float64Array(table.nRows).fill(NaN);
      detection.byRow = new Array(table.nRows);
      for (const result of detection.results) {
        detection.scores[result.index] = result.score ?? NaN;
        detection.byRow[result.index] = result;
      }
      detection.firstWindow = model.lookback - 1;
      detection.events.forEach((event, i) => { event.number = i + 1; });
      state.shown = { table, detection, model };
      state.view = [0, table.nRows - 1];
      $("reset-zoom").hidden = true;
      $("result").hidden = false;
      summarize(table, detection, threshold, performance.now() - started);
      renderQuality(table, detection);
      render();
      renderEvents();
      setStatus("");
    } catch (error) {
      if (!isStale()) {
        // the charts of an earlier input would pass for this one's: hide them
        state.shown = null;
        $("result").hidden = true;
        showError(error);
        setStatus("");
      }
    } finally {
      if (!isStale()) $("run").disabled = false;
    }
  }

  function summarize(table, detection, threshold, ms) {
    const summary = $("summary");
    summary.replaceChildren();
    const part = (label, value, cls) => {
      const span = document.createElement("span");
      if (cls) span.className = cls;
      if (label) {
        const b = document.createElement("b");
        b.textContent = label;
        span.append(b, " ");
      }
      span.append(value);
      if (summary.childNodes.length) summary.append(" · ");
      summary.appendChild(span);
    };
    const anomalous = detection.results.filter((r) => r.is_anomaly).length;
    const source = state.source === "file" && state.fileName ? state.fileName : "pasted CSV";
    part("", `${source}: ${table.nRows} rows`);
    part("model", `${detection.model.name} v${detection.model.version} (lookback ${detection.model.lookback})`);
    part("windows", `${detection.results.length}, ${anomalous} anomalous`);
    part("events", String(detection.events.length));
    part("threshold", `${fmt(detection.threshold)}${threshold === null ? " (the model's)" : " (given)"}`);
    part("time", table.timestamps ? table.timeColumn : "none (rows are numbered)");
    if (table.ignored.length) part("ignored", table.ignored.map((c) => clip(c)).join(", "));
    if (detection.ignoredColumns.length) part("ignored by the API", detection.ignoredColumns.join(", "));
    const fill = detection.fill;
    if (table.missing) {
      part("fill", `${fill.method}, max gap ${fill.maxGap}`);
      part("not scored", `${fill.unscored} ${fill.unscored === 1 ? "window" : "windows"} (a longer gap)`);
    }
    if (detection.requests > 1) part("sent in", `${detection.requests} requests`);
    part("", `${(ms / 1000).toFixed(2)}\u00a0s`);
    for (const note of table.notes) part("note:", note, "note");
  }

  // The "Data quality" panel: what the model's training data did not prepare it for.
  function renderQuality(table, detection) {
    const list = $("quality-list");
    list.replaceChildren();
    const item = (label, content) => {
      const li = document.createElement("li");
      const b = document.createElement("b");
      b.textContent = label;
      li.append(b, " ", content);
      list.appendChild(li);
    };
    const quality = detection.quality;
    const windows = (n) => `${n} ${n === 1 ? "window" : "windows"}`;
    for (const found of quality.outOfRange.values()) {
      item(`${found.feature} out of the training range:`,
        `up to ${fmt(found.worst_spreads)} training spreads ${found.side} (${rowLabel(table, found.worst_row)}), ` +
        `first at ${rowLabel(table, found.first_row)}; ${found.rows} ${found.rows === 1 ? "row" : "rows"} outside`);
    }
    if (quality.outOfRange.size) {
      item("windows out of range:", `${windows(quality.outOfRangeWindows)} hold a value more than ` +
        `${quality.farSpreads} spreads out; the model has never seen such data (not an alarm by itself)`);
    }
    if (quality.constant && quality.constant.size) {
      item("constant where training varied:", [...quality.constant].join(", "));
    }
    if (quality.varied.size) item("varied where training was constant:", [...quality.varied].join(", "));
    const steps = quality.steps;
    if (steps && steps.training_step_seconds !== null) {
      if (steps.step_differs) {
        item("time step:", `median ${fmt(steps.median_step_seconds)} s, ${fmt(steps.training_step_seconds)} s in training`);
      }
      if (steps.gaps) {
        item("gaps:", `${steps.gaps} (${steps.missing_samples} samples missing, the first before ` +
          `${rowLabel(table, steps.first_gap_row)}; the longest ${fmt(steps.longest_gap_seconds)} s)`);
      }
      if (steps.irregular_steps) {
        item("irregular steps:", `${steps.irregular_steps} (the first before ${rowLabel(table, steps.first_irregular_row)})`);
      }
    }
    if (quality.missing) {
      item("missing:", `${quality.missing} cells, ${quality.filled} filled; ` +
        `${windows(detection.fill.unscored)} not scored`);
    }
    if (!list.childNodes.length) item("nothing unusual:", "the data lies within what the model saw in training");
    for (const reason of quality.notJudged.values()) item("not judged:", reason);
    if (detection.requests > 1) {
      item("note:", `counted over ${detection.requests} requests; the rows they share are counted in each`);
    }
  }

  function init() {
    $("model").addEventListener("change", () => {
      describeModel();
      if (state.shown || state.fileText !== null) run();
    });
    $("file").addEventListener("change", async () => {
      const file = $("file").files[0];
      if (!file) return;
      state.fileText = await file.text();
      state.fileName = file.name;
      state.source = "file";
      run();
    });
    $("csv-text").addEventListener("input", () => {
      state.source = "paste";
    });
    $("run").addEventListener("click", run);
    $("log-scale").addEventListener("change", render);
    $("reset-zoom").addEventListener("click", () => {
      zoom(0, state.shown.table.nRows - 1);
    });
    window.addEventListener("mouseup", () => {
      if (!state.drag) return;
      state.drag.chart.selection.setAttribute("visibility", "hidden");
      state.drag = null;
    });
    let resizing = 0;
    window.addEventListener("resize", () => {
      clearTimeout(resizing);
      resizing = setTimeout(render, 150);
    });
    $("api-key").addEventListener("change", loadModels);
    loadModels();
  }

  init();
})();
