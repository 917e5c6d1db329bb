"""Charts as server-rendered SVG: every plot in the product is drawn by these functions and the
templates under ``frontend/templates/frontend/charts/``.

Why this one approach: the pages run under a strict Content-Security-Policy (``script-src 'self'``,
no inline scripts), show numbers that must read the same in the browser, in a screenshot and to a
screen reader, and are tested by looking at their HTML. SVG written by the server needs no chart
library, no script and no second request; its marks carry ``<title>`` text, its numbers are real
text, and a test can read them. What a script adds (sorting a table, reloading when data change) is
plain page behaviour, not drawing.

Two geometries, one per kind of chart:

- **Rows of intervals** (``interval_chart``, ``interval_marks``): one small SVG per row of an HTML
  table, its marks placed in *percent* of the row's width. The label and the numbers stay HTML text
  (sortable, selectable, never scaled), and a figure that is already a share in [0, 1] (the run
  page's metrics) is placed by the ``percent_width`` filter alone, with the same template.
- **Plots** (``line_chart``, ``small_multiples``, ``histogram``): one SVG with a fixed ``viewBox``
  that scales with its card; coordinates are computed here.

``heatmap`` shades the cells of an HTML table (the confusion matrix) by their share of the row.

Pure: figures (``{"value", "low", "high", "n"}``) in, template contexts of strings and numbers out;
no ORM, no request.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import datetime

SHARE_DOMAIN = (0.0, 1.0)
SHARE_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
# Series colours: the first is "all pools" (the darkest), then one per pool, readable on white and
# told apart without relying on red against green alone.
ALL_SERIES_COLOUR = "#1c2330"
SERIES_COLOURS = ("#2f5bd3", "#d08a00", "#1f9e89", "#c2352b", "#7b4fc9", "#5f6b7a")
NO_DATA = "–"

LINE_WIDTH, LINE_HEIGHT = 900, 270
PANEL_WIDTH, PANEL_HEIGHT = 560, 230
LINE_MARGIN = {"left": 52, "right": 20, "top": 14, "bottom": 48}
HISTOGRAM_WIDTH, HISTOGRAM_HEIGHT = 560, 230
HISTOGRAM_MARGIN = {"left": 52, "right": 16, "top": 20, "bottom": 50}
MAX_TIME_TICKS = 6
MAX_PANEL_TICKS = 5


# -- numbers as text ------------------------------------------------------------------------------

def percent_text(value: float | None, digits: int = 1) -> str:
    return NO_DATA if value is None else f"{value * 100:.{digits}f}%"


def decimal_text(value: float | None, digits: int = 3) -> str:
    return NO_DATA if value is None else f"{value:.{digits}f}"


def figure_texts(figure: dict | None, *, as_text: Callable[[float | None], str] = percent_text) -> dict:
    """A figure's point value, its interval and its count as text: ``{"value", "interval", "low",
    "high", "n"}``; the interval texts are empty when the figure has no value."""
    figure = figure or {}
    value, low, high = figure.get("value"), figure.get("low"), figure.get("high")
    has_interval = value is not None and low is not None and high is not None
    return {"value": as_text(value), "interval": f"{as_text(low)} – {as_text(high)}" if has_interval else "",
            "low": as_text(low) if has_interval else "", "high": as_text(high) if has_interval else "",
            "n": int(figure.get("n") or 0)}


def figure_sentence(label: str, figure: dict | None, *, as_text: Callable[[float | None], str] = percent_text) -> str:
    """One sentence for a mark's ``<title>`` and aria-label: "Crowd: 30.0% (95% interval 21.2% – 38.9%), n = 85"."""
    texts = figure_texts(figure, as_text=as_text)
    if texts["value"] == NO_DATA:
        return f"{label}: no data (n = {texts['n']})"
    interval = f" (95% interval {texts['interval']})" if texts["interval"] else ""
    return f"{label}: {texts['value']}{interval}, n = {texts['n']}"


# -- rows of intervals ----------------------------------------------------------------------------

def _position(value: float, domain: tuple[float, float]) -> float:
    low, high = domain
    share = (value - low) / (high - low) if high > low else 0.0
    return max(0.0, min(1.0, share))


def _percent(share: float) -> str:
    return f"{share * 100:.2f}"


def interval_marks(figure: dict | None, *, domain: tuple[float, float] = SHARE_DOMAIN) -> dict:
    """Where one figure's point and whiskers go, in percent of the row's width (strings with a dot
    decimal, for ``x="..%"``); ``has_value`` False draws nothing but the track."""
    figure = figure or {}
    value = figure.get("value")
    if value is None:
        return {"has_value": False, "has_interval": False}
    low = figure.get("low") if figure.get("low") is not None else value
    high = figure.get("high") if figure.get("high") is not None else value
    return {"has_value": True, "has_interval": high > low, "x_value": _percent(_position(value, domain)),
            "x_low": _percent(_position(low, domain)), "x_high": _percent(_position(high, domain))}


def _ticks(values: Sequence[float], domain: tuple[float, float], as_text: Callable) -> list[dict]:
    ticks = []
    for index, value in enumerate(values):
        anchor = "start" if index == 0 else "end" if index == len(values) - 1 else "middle"
        ticks.append({"x": _percent(_position(value, domain)), "text": as_text(value), "anchor": anchor})
    return ticks


def interval_chart(*, title: str, axis_label: str, rows: Sequence[dict], domain: tuple[float, float] = SHARE_DOMAIN,
                   ticks: Sequence[float] = SHARE_TICKS, as_text: Callable[[float | None], str] | None = None,
                   tick_text: Callable[[float], str] | None = None) -> dict:
    """Points with their 95% interval whiskers, one row per label.

    ``rows``: ``{"label", "figure", "href" (optional), "simulated" (optional bool), "testid"
    (optional)}``. Values outside ``domain`` are drawn at its edge."""
    as_text = as_text or percent_text
    tick_text = tick_text or (lambda value: percent_text(value, 0))
    shaped = []
    for row in rows:
        label = row["label"]
        shaped.append({"label": label, "href": row.get("href"), "simulated": bool(row.get("simulated")),
                       "testid": row.get("testid"), "texts": figure_texts(row.get("figure"), as_text=as_text),
                       "marks": interval_marks(row.get("figure"), domain=domain)})
    axis = _ticks(ticks, domain, tick_text)
    return {"title": title, "axis_label": axis_label, "rows": shaped, "ticks": axis,
            "grid": [tick["x"] for tick in axis[1:-1]]}


# -- plots in a viewBox ---------------------------------------------------------------------------

def _round(value: float) -> float:
    return round(value, 1)


def _time_text(moment: datetime, span_seconds: float) -> str:
    if span_seconds >= 2 * 86400:
        return moment.strftime("%m-%d %H:%M") if span_seconds < 60 * 86400 else moment.strftime("%Y-%m-%d")
    return moment.strftime("%H:%M")


def time_table(series: Sequence[dict], *, as_text: Callable[[float | None], str] = percent_text) -> dict:
    """The numbers behind time series as one table: a row per time, a column per series."""
    moments = sorted({moment for entry in series for moment, _ in entry["points"]})
    by_moment = [{moment: figure_texts(figure, as_text=as_text) for moment, figure in entry["points"]
                  if (figure or {}).get("value") is not None} for entry in series]
    return {"columns": [entry["name"] for entry in series],
            "rows": [{"moment": f"{moment:%Y-%m-%d %H:%M}", "cells": [own.get(moment) for own in by_moment]}
                     for moment in moments]}


def _series_colours(series: Sequence[dict]) -> list[str]:
    colours, index = [], 0
    for entry in series:
        if entry.get("emphasis"):
            colours.append(ALL_SERIES_COLOUR)
        else:
            colours.append(SERIES_COLOURS[index % len(SERIES_COLOURS)])
            index += 1
    return colours


def line_chart(*, chart_id: str, title: str, y_label: str, x_label: str, series: Sequence[dict],
               domain: tuple[float, float] = SHARE_DOMAIN, width: int = LINE_WIDTH, height: int = LINE_HEIGHT,
               span: tuple[datetime, datetime] | None = None, tick_moments: Sequence[datetime] | None = None,
               as_text: Callable[[float | None], str] = percent_text,
               y_tick_values: Sequence[float] = SHARE_TICKS) -> dict:
    """Lines with 95% interval bands over time, and the same numbers as a table.

    Values are shares by default; a chart of another quantity (a training loss) passes its
    ``domain``, ``y_tick_values`` and ``as_text``.

    ``series``: ``{"name", "points": [(datetime, figure)], "emphasis" (bool: the "all" line),
    "simulated" (bool), "colour" (optional)}``, in legend order. A point without a value breaks its
    line; a point alone between breaks gets whiskers instead of a band. ``span`` (first, last) and
    ``tick_moments`` fix the time axis, so that panels drawn side by side line up."""
    left, right = LINE_MARGIN["left"], width - LINE_MARGIN["right"]
    top, bottom = LINE_MARGIN["top"], height - LINE_MARGIN["bottom"]
    moments = sorted({moment for entry in series for moment, _ in entry["points"]})
    if not moments:
        return {"id": chart_id, "title": title, "empty": True, "series": [], "y_label": y_label, "x_label": x_label}
    first, last = span or (moments[0], moments[-1])
    seconds = (last - first).total_seconds()

    def x_of(moment: datetime) -> float:
        if seconds <= 0:
            return _round((left + right) / 2)
        return _round(left + (moment - first).total_seconds() / seconds * (right - left))

    def y_of(value: float) -> float:
        return _round(bottom - _position(value, domain) * (bottom - top))

    shaped = []
    for entry, colour in zip(series, _series_colours(series)):
        segments, current = [], []
        for moment, figure in sorted(entry["points"], key=lambda point: point[0]):
            value = (figure or {}).get("value")
            if value is None:
                if current:
                    segments.append(current)
                current = []
                continue
            low = figure["low"] if figure.get("low") is not None else value
            high = figure["high"] if figure.get("high") is not None else value
            current.append({"x": x_of(moment), "y": y_of(value), "y_low": y_of(low), "y_high": y_of(high),
                            "title": figure_sentence(f"{entry['name']}, {moment:%Y-%m-%d %H:%M}", figure,
                                                     as_text=as_text)})
        if current:
            segments.append(current)
        points = [{**point, "isolated": len(segment) == 1} for segment in segments for point in segment]
        shaped.append({
            "name": entry["name"], "colour": entry.get("colour") or colour, "emphasis": bool(entry.get("emphasis")),
            "simulated": bool(entry.get("simulated")), "points": points,
            "lines": [" ".join(f"{p['x']},{p['y']}" for p in segment) for segment in segments if len(segment) > 1],
            "bands": [" ".join([f"{p['x']},{p['y_high']}" for p in segment]
                               + [f"{p['x']},{p['y_low']}" for p in reversed(segment)])
                      for segment in segments if len(segment) > 1],
        })
    if tick_moments is None:
        tick_moments = moments[::max(1, math.ceil(len(moments) / MAX_TIME_TICKS))]
    x_ticks = [{"x": x_of(moment), "text": _time_text(moment, seconds)} for moment in tick_moments]
    y_ticks = [{"y": y_of(value), "text": percent_text(value, 0) if as_text is percent_text else as_text(value)}
               for value in y_tick_values]
    return {"id": chart_id, "title": title, "empty": False, "width": width, "height": height,
            "left": left, "right": right, "top": top, "bottom": bottom, "x_ticks": x_ticks, "y_ticks": y_ticks,
            "series": shaped, "table": time_table(series, as_text=as_text), "y_label": y_label, "x_label": x_label,
            "x_label_y": height - 8, "y_label_x": 14, "y_label_y": _round((top + bottom) / 2), "x_tick_y": bottom + 18}


def small_multiples(*, chart_id: str, title: str, y_label: str, x_label: str, series: Sequence[dict]) -> dict:
    """One small line chart per series, on the same axes (lines with overlapping bands cannot be
    read apart), and one table of every number."""
    moments = sorted({moment for entry in series for moment, _ in entry["points"]})
    if not moments:
        return {"id": chart_id, "title": title, "empty": True, "panels": []}
    ticks = moments[::max(1, math.ceil(len(moments) / MAX_PANEL_TICKS))]
    panels = [line_chart(chart_id=f"{chart_id}-{index}", title=entry["name"], y_label=y_label, x_label=x_label,
                         series=[{**entry, "colour": colour}], width=PANEL_WIDTH, height=PANEL_HEIGHT,
                         span=(moments[0], moments[-1]), tick_moments=ticks)
              for index, (entry, colour) in enumerate(zip(series, _series_colours(series)))]
    return {"id": chart_id, "title": title, "empty": False, "panels": panels, "table": time_table(series),
            "x_label": x_label}


def _count_ticks(highest: int) -> list[int]:
    """Up to five round counts from 0 to at least ``highest``."""
    if highest <= 4:
        return list(range(0, max(highest, 1) + 1))
    raw = highest / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(candidate * magnitude for candidate in (1, 2, 2.5, 5, 10) if candidate * magnitude >= raw)
    step = max(1, int(step)) if step >= 1 else 1
    return list(range(0, int(math.ceil(highest / step) * step) + 1, step))


def histogram(*, chart_id: str, title: str, x_label: str, y_label: str, bins: Sequence[dict],
              bin_text: Callable[[float, float], str] | None = None,
              edge_text: Callable[[float], str] | None = None) -> dict:
    """Bars of counts: ``bins`` are ``{"low", "high", "count"}`` in order; the axis names the
    bins' edges."""
    bin_text = bin_text or (lambda low, high: f"{low * 100:.0f}–{high * 100:.0f}%")
    edge_text = edge_text or (lambda value: percent_text(value, 0))
    left, right = HISTOGRAM_MARGIN["left"], HISTOGRAM_WIDTH - HISTOGRAM_MARGIN["right"]
    top, bottom = HISTOGRAM_MARGIN["top"], HISTOGRAM_HEIGHT - HISTOGRAM_MARGIN["bottom"]
    counts = [int(entry["count"]) for entry in bins]
    ticks = _count_ticks(max(counts, default=0))
    ceiling = ticks[-1] or 1
    slot = (right - left) / max(len(bins), 1)
    bars = []
    for index, entry in enumerate(bins):
        count = int(entry["count"])
        height = (bottom - top) * count / ceiling
        text = bin_text(entry["low"], entry["high"])
        bars.append({"x": _round(left + index * slot + 2), "width": _round(slot - 4), "y": _round(bottom - height),
                     "height": _round(height), "count": count, "label_x": _round(left + (index + .5) * slot),
                     "count_y": _round(bottom - height - 5), "title": f"{text}: {count}"})
    edges = [{"x": _round(left + index * slot), "text": edge_text(entry["low"])} for index, entry in enumerate(bins)]
    if bins:
        edges.append({"x": _round(right), "text": edge_text(bins[-1]["high"])})
    return {"id": chart_id, "title": title, "width": HISTOGRAM_WIDTH, "height": HISTOGRAM_HEIGHT, "left": left,
            "right": right, "top": top, "bottom": bottom, "bars": bars, "edges": edges, "x_label": x_label,
            "y_label": y_label,
            "y_ticks": [{"y": _round(bottom - (bottom - top) * tick / ceiling), "text": str(tick)} for tick in ticks],
            "x_label_y": HISTOGRAM_HEIGHT - 8, "x_tick_y": bottom + 16, "y_label_x": 14,
            "y_label_y": _round((top + bottom) / 2), "total": sum(counts)}


# -- tables ---------------------------------------------------------------------------------------

def heatmap(*, values: Sequence[str], matrix: Sequence[Sequence[int]],
            value_text: Callable[[str], str] | None = None) -> dict:
    """A confusion matrix as table cells shaded by their share of the row (rows: golden value,
    columns: the labelers' value); ``strong`` cells are dark enough for white text."""
    value_text = value_text or (lambda value: value)
    rows = []
    for value, counts in zip(values, matrix):
        total = sum(counts)
        cells = []
        for column, count in zip(values, counts):
            share = count / total if total else 0.0
            title = (f"golden {value_text(value)}, labelers {value_text(column)}: {count} of {total} "
                     f"({percent_text(share, 0)})")
            cells.append({"count": int(count), "share": share,
                          "share_text": percent_text(share, 0) if total else NO_DATA, "alpha": f"{0.08 + 0.82 * share:.3f}" if count else "0", "strong": share >= 0.5,
                          "diagonal": column == value, "title": title})
        correct = counts[list(values).index(value)] if total else 0
        rows.append({"value": value_text(value), "cells": cells, "total": total,
                     "correct_text": percent_text(correct / total, 0) if total else NO_DATA})
    return {"columns": [value_text(value) for value in values], "rows": rows}


# -- gains and grouped bars (run comparison) ------------------------------------------------------

GAIN_STEPS = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0)
BARS_WIDTH, BARS_HEIGHT = 900, 280
BARS_MARGIN = {"left": 52, "right": 16, "top": 16, "bottom": 52}


def signed_percent_text(value: float | None, digits: int = 1) -> str:
    return NO_DATA if value is None else f"{value * 100:+.{digits}f}%"


def gain_domain(figures: Sequence[dict | None]) -> tuple[float, float]:
    """A domain symmetric about zero gain that holds every value and interval end of ``figures``,
    rounded up to a step of GAIN_STEPS (at least +-5%), so the zero line sits in the middle."""
    reach = 0.0
    for figure in figures:
        for key in ("value", "low", "high"):
            value = (figure or {}).get(key)
            if value is not None and math.isfinite(value):
                reach = max(reach, abs(value))
    bound = next((step for step in GAIN_STEPS if step >= reach), math.ceil(reach / GAIN_STEPS[-1]) * GAIN_STEPS[-1])
    return -bound, bound


def gain_chart(*, title: str, axis_label: str, rows: Sequence[dict]) -> dict:
    """Relative gains with their 95% intervals, one row per label, on a domain symmetric about 0
    (``interval_chart`` with signed percent text; its one grid line is zero gain)."""
    low, high = gain_domain([row.get("figure") for row in rows])
    # Three ticks: in a half-width card five signed labels run into each other; the one grid line is zero.
    ticks = (low, 0.0, high)
    return interval_chart(title=title, axis_label=axis_label, rows=rows, domain=(low, high), ticks=ticks,
                          as_text=signed_percent_text, tick_text=lambda value: signed_percent_text(value, 0))


def grouped_bar_chart(*, chart_id: str, title: str, y_label: str, x_label: str, series: Sequence[str],
                      groups: Sequence[dict], domain: tuple[float, float] = SHARE_DOMAIN,
                      as_text: Callable[[float | None], str] = percent_text) -> dict:
    """Bars side by side per group, one colour per series, each bar with its 95% interval whisker.

    ``series``: the series' names in legend order; ``groups``: ``{"label", "figures": [figure per
    series]}`` (a figure without a value draws no bar)."""
    left, right = BARS_MARGIN["left"], BARS_WIDTH - BARS_MARGIN["right"]
    top, bottom = BARS_MARGIN["top"], BARS_HEIGHT - BARS_MARGIN["bottom"]
    colours = [SERIES_COLOURS[index % len(SERIES_COLOURS)] for index in range(len(series))]

    def y_of(value: float) -> float:
        return _round(bottom - _position(value, domain) * (bottom - top))

    slot = (right - left) / max(len(groups), 1)
    bar_width = (slot - 12) / max(len(series), 1)
    shaped_groups = []
    for index, group in enumerate(groups):
        bars = []
        for position, (name, figure, colour) in enumerate(zip(series, group["figures"], colours)):
            figure = figure or {}
            value = figure.get("value")
            x = left + index * slot + 6 + position * bar_width
            bar = {"series": name, "colour": colour, "x": _round(x + 1), "width": _round(max(bar_width - 2, 1)),
                   "center": _round(x + bar_width / 2), "has_value": value is not None,
                   "title": figure_sentence(f"{group['label']}, {name}", figure, as_text=as_text)}
            if value is not None:
                bar.update({"y": y_of(value), "height": _round(bottom - y_of(value))})
                low, high = figure.get("low"), figure.get("high")
                bar["has_interval"] = low is not None and high is not None and high > low
                if bar["has_interval"]:
                    bar.update({"y_low": y_of(low), "y_high": y_of(high), "cap_x1": _round(x + bar_width / 2 - 3),
                                "cap_x2": _round(x + bar_width / 2 + 3)})
            bars.append(bar)
        shaped_groups.append({"label": group["label"], "label_x": _round(left + (index + 0.5) * slot), "bars": bars})
    y_ticks = [{"y": y_of(value), "text": percent_text(value, 0)} for value in SHARE_TICKS] if domain == SHARE_DOMAIN \
        else [{"y": y_of(value), "text": as_text(value)} for value in (domain[0], sum(domain) / 2, domain[1])]
    return {"id": chart_id, "title": title, "empty": not groups, "width": BARS_WIDTH, "height": BARS_HEIGHT,
            "left": left, "right": right, "top": top, "bottom": bottom, "groups": shaped_groups,
            "legend": [{"name": name, "colour": colour} for name, colour in zip(series, colours)],
            "y_ticks": y_ticks, "x_label": x_label, "y_label": y_label, "x_label_y": BARS_HEIGHT - 6,
            "x_tick_y": bottom + 16, "y_label_x": 14, "y_label_y": _round((top + bottom) / 2)}
