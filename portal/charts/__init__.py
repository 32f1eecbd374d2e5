"""Charts of the dashboard: server-rendered SVG inside the page, a PNG of each to download.

What they are: coverage by child region as bars against the target (bars.coverage_chart), the
trend of coverage and open files over 18 months (trend.trend_chart), open files by reason and
the contact funnel (bars.count_chart); dashboard.py draws them for a region from the figures,
targets and trend APIs, with the same numbers as a table for screen readers and JS-off.

Why our own SVG rather than a library. pygal 3.1, the well-kept Python SVG chart library, was
tried: with `js=[]` it drops its script, but every chart still carries ~16 KB of generated CSS
under a per-chart random id, so a 10-bar chart is 19 KB and a 100-bar one 61 KB, against 4.2 KB
and 26 KB here (1.3 and 4.0 KB gzipped; 5.1 and 36 KB with a target marker on every row; the
18-month trend 6 KB, the 12 reasons 3.5 KB, the funnel 1.6 KB). Its fonts are set in that CSS
(a Style object per chart to change them), it has no per-bar target marker (a second series of
bars or dots is the nearest) and its tooltips and hover effects assume a mouse. What the
dashboard needs — `role="img"` with `<title>`/`<desc>`, `<text>` in the phone's font stack, bars
carrying data-* for tests, horizontal bars that grow downwards with readable labels at 360 px —
is ~600 lines of plain string building (svg.py, bars.py, trend.py) with nothing to install,
every label escaped through html.escape.

For the PNG a renderer is needed, and there a library is the only sane choice: resvg-py (resvg,
the Rust SVG renderer, in a self-contained abi3 wheel: no system library; 0.1–0.2 s a chart,
most of it shaping the Chinese in Noto Sans CJK; a 720-px-wide PNG of 20–40 KB) rather than
cairosvg (needs the system libcairo2 and pulls cssselect2, tinycss2, cairocffi). Both draw
Chinese only with a CJK font on the server: fonts-noto-cjk.
"""
