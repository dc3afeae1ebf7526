"""The charts every page draws: axes with round ticks, the labels, each value in the
markup for the hover, a legend for several series, and "no data" rather than a frame."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from xiaoer.http.charts import bar_chart, column_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"
EMPTY = "暂无数据"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def _texts(root: ET.Element, css: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css]


def _marks(root: ET.Element, css: str) -> list[ET.Element]:
    return [e for e in root.iter() if (e.get("class") or "").split()[:1] == [css]]


def test_a_line_chart_has_round_ticks_labels_and_every_value() -> None:
    # given two agents' inquiring buyers over three days, one day missing for 小兰
    chart = _parse(
        line_chart(
            "询单人数",
            ["11-01", "11-02", "11-03"],
            [("小梅", [3.0, 12.0, 7.0]), ("小兰", [5.0, None, 1.0])],
            empty=EMPTY,
        )
    )
    # then the y axis runs 0, 5, 10, 15 with a gridline each, the days label the x axis
    assert _texts(chart, "tick") == ["0", "5", "10", "15", "11-01", "11-02", "11-03"]
    assert len(_marks(chart, "grid")) == 3  # 5, 10, 15; the 0 line is the axis
    # each point says its value for the hover, and its series is named
    series = _marks(chart, "series")
    assert [s.get("data-name") for s in series] == ["小梅", "小兰"]
    assert [p.get("data-value") for p in _marks(series[0], "point")] == ["3", "12", "7"]
    assert [p.get("data-index") for p in _marks(series[1], "point")] == ["0", "2"]
    # a missing day breaks 小兰's line: no line through it
    assert not list(series[1].iter(f"{SVG}polyline"))
    # a column to hover per day, saying all values there to a screen reader
    cols = _marks(chart, "col")
    assert [c.get("data-label") for c in cols] == ["11-01", "11-02", "11-03"]
    title = cols[1].find(f"{SVG}title")
    assert title is not None and title.text == "11-02 — 小梅: 12; 小兰: —"
    # and a legend entry per series that toggles it
    legend = [b for b in chart.iter("button") if b.get("class") == "legend-item"]
    assert [("".join(b.itertext()), b.get("data-series")) for b in legend] == [
        ("小梅", "0"),
        ("小兰", "1"),
    ]
    assert all(b.get("aria-pressed") == "true" for b in legend)


def test_percentages_and_money_read_as_such() -> None:
    rates = _parse(line_chart("转化率", ["a", "b"], [("店", [0.25, 0.37])],
                              kind="percent", empty=EMPTY))  # fmt: skip
    assert _texts(rates, "tick")[:5] == ["0%", "10%", "20%", "30%", "40%"]
    assert [p.get("data-value") for p in _marks(rates, "point")] == ["25.0%", "37.0%"]
    assert not list(rates.iter("button"))  # one series needs no legend

    sales = _parse(column_chart("付款金额", [("12-01", 123450.0), ("12-02", 0.0)],
                                kind="fen", empty=EMPTY))  # fmt: skip
    assert _texts(sales, "tick") == ["0", "250", "500", "750", "1,000", "1,250", "12-01", "12-02"]
    assert [b.get("data-value") for b in _marks(sales, "bar")] == ["¥1,234.50", "¥0.00"]


def test_a_bar_chart_writes_its_values_and_its_targets() -> None:
    chart = _parse(bar_chart("成交笔数", [("2026-11", 737.0)], marks=[50, 400, 600],
                             empty=EMPTY))  # fmt: skip
    assert _texts(chart, "tick") == ["0", "200", "400", "600", "800"]
    assert _texts(chart, "label") == ["2026-11"] and _texts(chart, "value") == ["737"]
    assert _texts(chart, "mark-label") == ["50", "400", "600"]


def test_no_data_is_said_not_drawn() -> None:
    for chart in (
        line_chart("趋势", ["11-01", "11-02"], [("小梅", [None, None])], empty=EMPTY),
        line_chart("趋势", [], [], empty=EMPTY),
        bar_chart("分布", [], empty=EMPTY),
        column_chart("销售", [], empty=EMPTY),
    ):
        root = _parse(chart)
        assert "<svg" not in str(chart)
        assert [p.text for p in root.iter("p")] == [root.find("p").text, EMPTY]  # type: ignore[union-attr]


def test_all_zero_still_has_an_axis() -> None:
    chart = _parse(column_chart("销售", [("12-01", 0.0)], empty=EMPTY))
    assert _texts(chart, "tick") == ["0", "1", "12-01"]


def test_names_are_escaped() -> None:
    chart = line_chart("<t>", ["<d>"], [("<b>x</b>", [1.0])], empty=EMPTY)
    assert "<b>x" not in chart and "&lt;b&gt;x&lt;/b&gt;" in chart
    _parse(chart)  # still well formed


def test_ticks_are_round_and_reach_the_top() -> None:
    assert nice_ticks(12, "count") == [0, 5, 10, 15]
    assert nice_ticks(3, "count") == [0, 1, 2, 3]
    assert nice_ticks(0.37, "percent") == [0, 0.1, 0.2, 0.3, 0.4]
    assert nice_ticks(43.2, "decimal") == [0, 10, 20, 30, 40, 50]
    assert nice_ticks(1234, "decimal")[-1] >= 1234
