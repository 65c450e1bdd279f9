"""The usage charts' own Vega-Lite specs draw what st.bar_chart and st.line_chart draw: the same spec and data."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

COLUMNS = {"Prompt tokens": [1200, 1350, 1500], "Completion tokens": [20, 240, 35]}
COSTS = [0.00021, 0.000345, 0.0002505]


def streamlits_own(columns: dict[str, list[int]], costs: list[float]) -> None:
    import streamlit as st

    st.bar_chart(columns, height=140)
    st.line_chart({"USD": costs}, height=100)


def ours(columns: dict[str, list[int]], costs: list[float]) -> None:
    import ui_charts

    ui_charts.bar_chart(columns, height=140)
    ui_charts.line_chart("USD", costs, height=100)


def charts(script: Any, columns: dict[str, list[int]], costs: list[float]) -> list[tuple[dict, list[dict]]]:
    """Each chart's spec (its dataset's name replaced) and its data rows."""
    at = AppTest.from_function(script, args=(columns, costs)).run()
    assert not at.exception
    found = []
    for chart in at.get("vega_lite_chart"):
        [dataset] = chart.proto.datasets
        spec = json.loads(chart.proto.spec.replace(dataset.name, "DATA"))
        found.append((spec, pa.ipc.open_stream(dataset.data.data).read_all().to_pylist()))
    return found


@pytest.mark.parametrize("size", [1, 3])
def test_our_charts_are_streamlits_charts(size):
    columns = {name: values[:size] for name, values in COLUMNS.items()}
    expected = charts(streamlits_own, columns, COSTS[:size])
    assert len(expected) == 2
    assert charts(ours, columns, COSTS[:size]) == expected


def dataset_names(columns: dict[str, list[int]], costs: list[float]) -> list[str]:
    at = AppTest.from_function(ours, args=(columns, costs)).run()
    return [chart.proto.datasets[0].name for chart in at.get("vega_lite_chart")]


def test_other_data_is_another_dataset():
    """A dataset is named by its content: the browser never keeps the old numbers under a name it knows."""
    bars, line = dataset_names(COLUMNS, COSTS)
    other_bars, same_line = dataset_names({"Prompt tokens": [1, 2, 3], "Completion tokens": [4, 5, 6]}, COSTS)
    assert other_bars != bars and same_line == line
    _, other_line = dataset_names(COLUMNS, [*COSTS[:2], 0.5])
    assert other_line != line
