"""A minimal SVG writer for the charts: a canvas of rects, lines, paths and text, escaped.

Every chart is one `<svg role="img">` whose `<title>` and `<desc>` name it for screen readers,
drawn in a 360-unit-wide viewBox (a phone's width: one unit is one CSS pixel there, and the
page scales it with `width="100%"`). Text stays `<text>` in a font stack the phone's own fonts
answer, so Chinese is drawn by the device, not shipped as outlines. Colours and strokes come
from the rules of static/charts.css scoped to `svg.chart`: linked by the page for the inline
charts (its Content-Security-Policy allows no inline style), embedded in a standalone chart (the
.svg file, the PNG), so a bar costs one short element.
"""

from html import escape
from pathlib import Path

WIDTH = 360
PAD = 6  # the margin left and right of everything drawn
FONT = "system-ui, -apple-system, 'PingFang SC', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"
FONT_SIZE = 12
HEADING_HEIGHT = 42  # the two heading lines of a standalone chart (the PNG, the .svg file)

# Rules every chart uses; each kind adds its own (bars.STYLE, trend.STYLE).
# The chart rules, one source for the page (static/charts.css, linked: the page's Content-Security-
# Policy allows no inline <style>) and for a standalone chart (embedded: a file or the PNG).
CSS_FILE = Path(__file__).resolve().parents[1] / "static" / "charts.css"
STYLE = "".join(
    line.strip() for line in CSS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip().startswith(".")
)  # fmt: skip


def num(value: float) -> str:
    """A coordinate in at most one decimal, without a trailing ".0" or a leading zero."""
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    if text.startswith("0."):
        text = text[1:]
    elif text.startswith("-0."):
        text = "-" + text[2:]
    return "0" if text in ("", "-0", "-") else text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of the drawn width: a CJK (full-width) character is one em, others ~0.6."""
    return sum(size if ord(ch) > 0x2E7F or ch in "…（）·" else size * 0.6 for ch in text)


def fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    """The text, cut with "…" so that it fits `width` (the table beside the chart has it whole)."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def _attrs(attrs: dict) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        if isinstance(value, float):
            value = num(value)
        parts.append(f' {name}="{escape(str(value), quote=True)}"')
    return "".join(parts)


class Canvas:
    """One chart: elements appended in drawing order, rendered as a standalone SVG string.

    `ident` makes the ids of `<title>`/`<desc>` unique on a page holding several charts.
    `standalone` gives the SVG fixed width/height (a file, the PNG renderer); otherwise it takes
    the width of its container (`width="100%"`) and keeps its aspect ratio."""

    def __init__(self, ident: str, title: str, desc: str, *, standalone: bool = False):
        self.ident = ident
        self.title = title
        self.desc = desc
        self.standalone = standalone
        self.height = 0.0
        self.parts: list[str] = []

    def add(self, tag: str, content: str | None = None, **attrs) -> None:
        if content is None:
            self.parts.append(f"<{tag}{_attrs(attrs)}/>")
        else:
            self.parts.append(f"<{tag}{_attrs(attrs)}>{escape(content, quote=False)}</{tag}>")

    def rect(self, x: float, y: float, w: float, h: float, **attrs) -> None:
        self.add("rect", x=float(x), y=float(y), width=float(max(w, 0)), height=float(h), **attrs)

    def line(self, x1: float, y1: float, x2: float, y2: float, **attrs) -> None:
        self.add("line", x1=float(x1), y1=float(y1), x2=float(x2), y2=float(y2), **attrs)

    def text(self, x: float, y: float, content: str, *, anchor: str | None = None, **attrs):
        self.add("text", content, x=float(x), y=float(y), text_anchor=anchor, **attrs)

    def heading(self, lines: tuple[str, str] | None) -> float:
        """The standalone chart's heading (what, where; then when), fitted to the width;
        returns where the chart starts below it."""
        if not lines:
            return 0.0
        self.text(PAD, 17, fit(lines[0], WIDTH - 2 * PAD, 14), class_="h")
        self.text(PAD, 33, fit(lines[1], WIDTH - 2 * PAD, 10), class_="muted")
        return HEADING_HEIGHT

    def render(self) -> str:
        title_id, desc_id = f"{self.ident}-title", f"{self.ident}-desc"
        size = (
            f' width="{WIDTH}" height="{num(self.height)}"' if self.standalone else ' width="100%"'
        )
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"'
            f' aria-labelledby="{title_id} {desc_id}" viewBox="0 0 {WIDTH} {num(self.height)}"'
            f'{size} font-family="{FONT}" font-size="{FONT_SIZE}">'
            f'<title id="{title_id}">{escape(self.title, quote=False)}</title>'
            f'<desc id="{desc_id}">{escape(self.desc, quote=False)}</desc>'
            + (f"<style>{STYLE}</style>" if self.standalone else "")
            + (f'<rect width="{WIDTH}" height="{num(self.height)}" fill="#fff"/>')
            + "".join(self.parts)
            + "</svg>"
        )


def relative_path(points: list[tuple[float, float] | None]) -> str:
    """A polyline as compact path data: "M x y", then "l" and relative steps "dx dy" (the "l"
    repeats implicitly); a None in the list breaks the line (the next point starts a new "M")."""
    out: list[str] = []
    last: tuple[float, float] | None = None
    for point in points:
        if point is None:
            last = None
            continue
        x, y = round(point[0], 1), round(point[1], 1)
        if last is None:
            out.append(f"M{num(x)} {num(y)}")
            steps = 0
        else:
            dx, dy = num(x - last[0]), num(y - last[1])
            head = "l" if steps == 0 else ("" if dx.startswith("-") else " ")
            out.append(f"{head}{dx}{dy if dy.startswith('-') else ' ' + dy}")
            steps += 1
        last = (x, y)
    return "".join(out)
