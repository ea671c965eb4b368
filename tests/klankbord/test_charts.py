"""SVG bar charts of the annual report: well-formed, escaped, CSP-clean, accessible, and a
suppressed count leaves no trace of its hidden value in the drawing."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from klankbord.charts import CURRENT_COLOUR, PREVIOUS_COLOUR, Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"
K = 3


def _tree(markup: str) -> ET.Element:
    return ET.fromstring(markup)


def _bar_rects(markup: str, colour: str) -> list[ET.Element]:
    return [r for r in _tree(markup).iter(f"{SVG}rect") if r.get("fill") == colour]


def _texts(markup: str) -> list[str]:
    return [t.text or "" for t in _tree(markup).iter(f"{SVG}text")]


def _suppressed(label: str, count: int, previous: int | None = None) -> Bar:
    """What the annual report does with raw counts: below k, only "< k" reaches the chart."""
    value = count if count >= K else None
    shown = str(count) if count >= K else f"< {K}"
    if previous is None:
        return Bar(label, value, shown)
    old = previous if previous >= K else None
    return Bar(label, value, shown, old, str(previous) if previous >= K else f"< {K}")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_bar_chart_label_with_markup_is_escaped() -> None:
    label = "<script>alert(1)</script> & co"

    markup = bar_chart(title="Tom & <Jerry>", bars=[Bar(label, 4, "4")])

    assert "<script" not in markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in markup
    root = _tree(markup)
    assert root.findtext(f"{SVG}title") == "Tom & <Jerry>"
    assert label in _texts(markup)


def test_bar_chart_hidden_value_changes_nothing_in_the_output() -> None:
    def chart(hidden: int, hidden_previous: int) -> str:
        bars = [
            _suppressed("Pesten", 12, 7),
            _suppressed("Discriminatie", hidden, 5),
            _suppressed("Agressie", 6, hidden_previous),
        ]
        return str(bar_chart(title="Categorie", bars=bars, previous_label="2023"))

    assert chart(1, 2) == chart(2, 1) == chart(0, 0)
    assert "< 3" in _texts(chart(1, 2))


def test_bar_chart_suppressed_placeholder_same_size_at_every_scale() -> None:
    def placeholder(largest: int) -> list[dict[str, str]]:
        bars = [Bar("Verborgen", None, "< 3"), Bar("Groot", largest, str(largest))]
        root = _tree(bar_chart(title="Schaal", bars=bars))
        shapes = [
            *(r for r in root.iter(f"{SVG}rect") if r.get("class") == "chart-suppressed"),
            *root.iter(f"{SVG}line"),
        ]
        return [dict(shape.attrib) for shape in shapes]

    assert placeholder(3) == placeholder(10_000)
    assert placeholder(3)  # the placeholder is really drawn


def test_bar_chart_suppressed_bar_draws_no_filled_bar() -> None:
    markup = bar_chart(title="Alleen verborgen", bars=[Bar("Verborgen", None, "< 3")])

    assert _bar_rects(markup, CURRENT_COLOUR) == []
    assert "< 3" in _texts(markup)


def test_bar_chart_desc_lists_every_bar_with_previous_year() -> None:
    bars = [
        Bar("Pesten", 12, "12", 9, "9"),
        Bar("Intimidatie", None, "< 3", 4, "4"),
        Bar("Agressie", 5, "5"),
    ]

    markup = bar_chart(title="Categorie", bars=bars, previous_label="2023")

    assert _tree(markup).findtext(f"{SVG}desc") == (
        "Pesten: 12 (2023: 9); Intimidatie: < 3 (2023: 4); Agressie: 5"
    )


def test_bar_chart_output_csp_clean_without_style_script_or_external_reference() -> None:
    bars = [Bar("Een & <b>twee</b>", 7, "7", None, "< 3"), Bar("Drie", None, "< 3", 8, "8")]

    markup = str(bar_chart(title="Alles", bars=bars, previous_label="2023", current_label="2024"))

    root = _tree(markup)
    assert all("style" not in element.attrib for element in root.iter())
    assert root.find(f".//{SVG}style") is None
    assert "<script" not in markup.lower()
    assert re.findall(r"https?:", markup) == ["http:"]
    assert 'xmlns="http://www.w3.org/2000/svg"' in markup
    assert all(not name.endswith("href") for element in root.iter() for name in element.attrib)


def test_bar_chart_root_is_a_labelled_image_with_viewbox_and_no_fixed_size() -> None:
    markup = bar_chart(title="Procedure", bars=[Bar("Integriteit", 4, "4")], width=480)

    root = _tree(markup)
    assert root.get("role") == "img"
    assert re.fullmatch(r"0 0 480 \d+", root.get("viewBox", ""))
    assert "width" not in root.attrib and "height" not in root.attrib
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    assert root.get("aria-labelledby") == title.get("id")
    assert root.get("aria-describedby") == desc.get("id")
    assert all(t.get("font-size") for t in root.iter(f"{SVG}text"))


def test_bar_chart_same_input_renders_identical_output() -> None:
    bars = [Bar("Pesten", 12, "12", 9, "9"), Bar("Agressie", 7, "7", 3, "3")]

    first = bar_chart(title="Categorie", bars=bars, previous_label="2023")

    assert first == bar_chart(title="Categorie", bars=list(bars), previous_label="2023")


def test_bar_chart_ids_differ_per_chart_and_follow_chart_id() -> None:
    bars = [Bar("Pesten", 12, "12")]

    ids = {_tree(bar_chart(title=t, bars=bars)).get("aria-labelledby") for t in ("A", "B")}
    given = _tree(bar_chart(title="A", bars=bars, chart_id="route-2024"))

    assert len(ids) == 2
    title = given.find(f"{SVG}title")
    assert given.get("aria-labelledby") == "route-2024-title"
    assert title is not None and title.get("id") == "route-2024-title"


def test_bar_chart_previous_year_bars_are_thinner_and_share_the_scale() -> None:
    bars = [Bar("Pesten", 10, "10", 20, "20"), Bar("Agressie", 5, "5", 2, "2")]

    markup = bar_chart(title="Categorie", bars=bars, previous_label="2023", current_label="2024")

    current = _bar_rects(markup, CURRENT_COLOUR)
    previous = _bar_rects(markup, PREVIOUS_COLOUR)
    widths = [float(r.get("width", "0")) for r in current]
    previous_widths = [float(r.get("width", "0")) for r in previous]
    # one legend swatch per colour, then one bar per row
    assert len(current) == 3 and len(previous) == 3
    assert float(current[1].get("height", "0")) > float(previous[1].get("height", "0"))
    assert previous_widths[1] == pytest.approx(2 * widths[1], abs=0.1)  # 20 fills, 10 is half
    assert 500 < previous_widths[1] < 640 - 16
    assert widths[2] == pytest.approx(widths[1] / 2, abs=0.1)
    assert {"2023", "2024", "20", "2"} <= set(_texts(markup))


def test_bar_chart_largest_value_fills_the_room_left_by_the_texts() -> None:
    markup = bar_chart(title="Schaal", bars=[Bar("Groot", 40, "40"), Bar("Klein", 1, "1")])

    big, small = (float(r.get("width", "0")) for r in _bar_rects(markup, CURRENT_COLOUR))
    end_text = next(t for t in _tree(markup).iter(f"{SVG}text") if t.text == "40")

    assert 500 < big < 640
    assert float(end_text.get("x", "0")) > big  # the value text follows the bar's end
    assert small == pytest.approx(big / 40, abs=0.1)


def test_bar_chart_tiny_value_keeps_a_visible_bar() -> None:
    markup = bar_chart(title="Schaal", bars=[Bar("Groot", 100_000, "100.000"), Bar("Een", 1, "1")])

    assert float(_bar_rects(markup, CURRENT_COLOUR)[1].get("width", "0")) >= 2


def test_bar_chart_all_zero_draws_no_bars_but_the_texts() -> None:
    bars = [Bar("Pesten", 0, "0", 0, "0"), Bar("Agressie", 0, "0")]

    markup = bar_chart(title="Leeg", bars=bars, previous_label="2023", current_label="2024")

    assert len(_bar_rects(markup, CURRENT_COLOUR)) == 1  # the legend swatch only
    assert len(_bar_rects(markup, PREVIOUS_COLOUR)) == 1
    assert _texts(markup).count("0") == 3
    assert {"Pesten", "Agressie"} <= set(_texts(markup))


def test_bar_chart_long_label_wraps_within_the_width() -> None:
    label = "Seksuele intimidatie en andere vormen van ongewenst gedrag " * 3

    markup = bar_chart(title="Lang", bars=[Bar(label, 4, "4")], width=320)

    lines = [t for t in _texts(markup) if t != "4"]
    assert len(lines) > 3
    assert " ".join(lines) == label.strip()
    assert all(len(line) * 14 * 0.6 <= 320 - 16 for line in lines)


def test_bar_chart_colours_meet_aa_contrast_on_white() -> None:
    bars = [Bar("Pesten", 5, "5", None, "< 3")]
    markup = str(bar_chart(title="Kleur", bars=bars, previous_label="2023"))

    colours = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', markup))

    assert {CURRENT_COLOUR, PREVIOUS_COLOUR} <= colours
    assert all(1.05 / (_luminance(c) + 0.05) >= 4.5 for c in colours)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bars": [Bar("Pesten", 5, "5", 4, "4")]}, "previous_label"),
        ({"bars": [Bar("Pesten", -1, "-1")]}, "negative"),
        ({"bars": [Bar("Pesten", None, "")]}, "suppressed"),
        ({"bars": [], "chart_id": '"><script>'}, "chart_id"),
        ({"bars": [], "width": 100}, "width"),
    ],
)
def test_bar_chart_invalid_input_raises_value_error(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bar_chart(title="Fout", **kwargs)  # type: ignore[arg-type]
