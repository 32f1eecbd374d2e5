"""Regions of the shipped demo tree the tests use, and the current year."""

from datetime import date

YEAR = date.today().year
FUNING = "320923000000"  # 阜宁县
XINGFU = "320923001001"  # 兴阜居委会, Fucheng street: fc_grid1's community
XINSHENG = "320923001002"  # 新盛居委会, Fucheng street: fc_grid2's community
WUTAN = "320923002001"  # a community of Wutan street, beside Fucheng (wt_grid1)
