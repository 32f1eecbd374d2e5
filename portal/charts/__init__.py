"""Charts of the dashboard: server-rendered SVG inside the page, a PNG of each to download.

What they are: coverage by child region as bars against the target (bars.coverage_chart), the
trend of coverage and open files over 18 months (trend.trend_chart), open files by reason and
the contact funnel (bars.count_chart); dashboard.py draws them for a region from the figures,
targets and trend APIs, with the same numbers as a table for screen readers and JS-off.

Why our own SVG rather than a library. pygal 3.1 (the well-kept Python SVG chart library; the
only one that writes SVG without a browser) was tried: with `js=[]` it drops its script, but
every chart still carries ~16 KB of generated CSS under a per-chart random id, so a 10-bar chart
is 19 KB and a 100-bar one 61 KB, against 2.6 KB and 14 KB here; its fonts are set in that CSS
(to change them is a Style object per chart), it has no per-bar target marker (a second series
drawn as bars or dots is the nearest), and its tooltips and hover effects assume a mouse. What
the brief asks — `role="img"` with `<title>`/`<desc>`, `<text>` in the phone's font stack, bars
carrying data-* for tests, horizontal bars that grow downwards with readable labels at 360 px —
is ~300 lines of plain string building (svg.py, bars.py, trend.py) with nothing to install,
escaping every label through html.escape.

For the PNG a renderer is needed, and there a library is the only sane choice: resvg-py (resvg,
the Rust SVG renderer, in a self-contained abi3 wheel: no system library, ~40 ms a chart with
the system fonts loaded) rather than cairosvg (needs the system libcairo2 and pulls cssselect2,
tinycss2, cairocffi). Both draw Chinese only with a CJK font on the server: fonts-noto-cjk.
"""
