"""The usage panel's charts as Vega-Lite specs of our own: the same charts ``st.bar_chart`` and ``st.line_chart``
draw (their spec, written out), without building an Altair chart and validating it against its JSON schema on
every script run, which cost more CPU than the rest of the panel together.

``tests/test_ui_charts.py`` checks each spec and its data against what Streamlit's own command sends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st

INDEX = "index -- streamlit-generated"
COLOR = "color -- streamlit-generated"
VALUE = "value -- streamlit-generated"
SCHEMA = "https://vega.github.io/schema/vega-lite/v6.4.1.json"
_INDEX_TOOLTIP = {"field": INDEX, "title": "index", "type": "quantitative"}
_ZOOM = {"type": "interval", "encodings": ["x", "y"]}  # drag to pan, scroll to zoom


def _axis(field: str, kind: str, grid: bool, whole_steps: bool = True) -> dict[str, Any]:
    axis: dict[str, Any] = {"grid": grid, "tickMinStep": 1} if whole_steps else {"grid": grid}
    return {"axis": axis, "field": field, "scale": {}, "title": "", "type": kind}


def bar_chart(columns: Mapping[str, Sequence[float]], height: int, labels: Sequence[str] = ()) -> None:
    """Stacked bars, one colour per column, a bar per row (as ``st.bar_chart(columns, height=height)``); with
    ``labels``, each bar is named by its row's label (a day, a model) instead of its number."""
    rows = [
        (labels[index] if labels else index, name, value)
        for name, values in columns.items()
        for index, value in enumerate(values)
    ]
    data: dict[str, list[Any]] = {INDEX: [r[0] for r in rows], COLOR: [r[1] for r in rows], VALUE: [r[2] for r in rows]}
    legend = {"titlePadding": 5, "offset": 5, "orient": "bottom"}
    spec = {
        "mark": {"type": "bar"},
        "encoding": {
            "color": {"field": COLOR, "legend": legend, "title": " ", "type": "nominal"},
            "tooltip": [
                {**_INDEX_TOOLTIP, "type": "nominal"} if labels else _INDEX_TOOLTIP,
                {"field": VALUE, "title": "value", "type": "quantitative"},
                {"field": COLOR, "title": "color", "type": "nominal"},
            ],
            "x": _axis(INDEX, "ordinal", grid=False),
            "y": _axis(VALUE, "quantitative", grid=True),
        },
        "params": [{"name": "param_1", "select": _ZOOM, "bind": "scales"}],
    }
    _draw(spec, data, height)


def line_chart(name: str, values: Sequence[float], height: int) -> None:
    """One line with a point under the pointer (as ``st.line_chart({name: values}, height=height)``)."""
    data: dict[str, list[Any]] = {INDEX: list(range(len(values))), name: list(values)}
    encoding = {
        "tooltip": [_INDEX_TOOLTIP, {"field": name, "type": "quantitative"}],
        "x": _axis(INDEX, "quantitative", grid=False),
        "y": _axis(name, "quantitative", grid=True, whole_steps=False),
    }
    nearest = {"type": "point", "clear": "mouseleave", "fields": [INDEX], "nearest": True, "on": "mousemove"}
    spec = {
        "layer": [
            {"mark": {"type": "line"}, "encoding": encoding, "name": "view_1"},
            {"mark": {"type": "point", "opacity": 0}, "encoding": encoding, "name": "view_2"},
            {
                "mark": {"type": "point", "filled": True, "size": 65},
                "encoding": encoding,
                "transform": [{"filter": {"param": "param_1", "empty": False}}],
            },
        ],
        "config": {"legend": {"symbolType": "stroke"}},
        "params": [
            {"name": "param_1", "select": nearest, "views": ["view_2"]},
            {"name": "param_2", "select": _ZOOM, "bind": "scales", "views": ["view_1"]},
        ],
    }
    _draw(spec, data, height)


def _draw(spec: dict[str, Any], data: dict[str, list[Any]], height: int) -> None:
    """The spec with its data as one named dataset (named by its content, as Streamlit names them), full width."""
    name = hashlib.md5(json.dumps(data).encode(), usedforsecurity=False).hexdigest()
    full = {
        **spec,
        "data": {"name": name},
        "height": height,
        "width": 0,
        "$schema": SCHEMA,
        "autosize": {"type": "fit", "contains": "padding"},
        "datasets": {name: data},
    }
    st.vega_lite_chart(full, width="stretch", height=height)
