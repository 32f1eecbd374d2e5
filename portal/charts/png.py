"""A chart as a PNG to paste into a work group chat: the standalone SVG rendered by resvg.

resvg (through the resvg-py wheel, which carries it compiled: no system library) draws the
`<text>` with the server's fonts. Chinese needs a CJK font installed (Debian: fonts-noto-cjk,
which CI installs and the SVG's font stack names as "Noto Sans CJK SC"); without one the
characters are left out of the picture, the bars and numbers stay.
"""

import resvg_py

SCALE = 2  # 360 units → 720 px: sharp on a phone's screen, 20–40 KB


def to_png(svg: str, scale: float = SCALE) -> bytes:
    """PNG bytes of a standalone chart SVG (one with width and height), on white."""
    return bytes(resvg_py.svg_to_bytes(svg_string=svg, zoom=scale, background="#ffffff"))
