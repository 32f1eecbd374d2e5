"""The test world: the demo chain plus regions and accounts outside it.

Inside: the demo accounts (Jiangsu → Yancheng → Funing → Fucheng street → communities, and
Wutan street beside Fucheng). Outside, one sibling per level, each with a grid worker: Beijing
(another province), Wuxi (another city), Tinghu district (another county of Yancheng).
"""

from portal.demo import DemoAccount

EXTRA_REGIONS = [
    # code, name, level, parent
    ("110000000000", "北京市", 1, None),
    ("110100000000", "市辖区", 2, "110000000000"),
    ("110101000000", "东城区", 3, "110100000000"),
    ("110101001000", "东华门街道", 4, "110101000000"),
    ("110101001001", "多福巷社区居委会", 5, "110101001000"),
    ("320200000000", "无锡市", 2, "320000000000"),
    ("320205000000", "锡山区", 3, "320200000000"),
    ("320205001000", "东亭街道", 4, "320205000000"),
    ("320205001001", "门楼社区居委会", 5, "320205001000"),
]

EXTRA_ACCOUNTS = (
    DemoAccount("bj_grid", "北京网格员", "grid_worker", "110101001001"),
    DemoAccount("bj_auditor", "北京审计员", "auditor", "110000000000"),
    DemoAccount("wx_grid", "无锡网格员", "grid_worker", "320205001001"),
    DemoAccount("th_grid", "亭湖网格员", "grid_worker", "320902001001"),
    DemoAccount("yc_auditor", "盐城审计员", "auditor", "320900000000"),
)

# The demo account that plays each role in role-by-role tests.
ACTOR = {
    "province_admin": "js_admin",
    "province_staff": "js_staff",
    "security_admin": "js_security",
    "auditor": "js_auditor",
    "city_admin": "yc_admin",
    "city_staff": "yc_staff",
    "county_admin": "fn_admin",
    "county_staff": "fn_staff",
    "township_supervisor": "fc_supervisor",
    "grid_worker": "fc_grid1",
}

# A region inside each actor's own region, and a sibling region outside it.
INSIDE_REGION = {
    "province_admin": "320923001001",
    "province_staff": "320923001001",
    "security_admin": "320900000000",
    "auditor": "320900000000",
    "city_admin": "320923001000",
    "city_staff": "320923001000",
    "county_admin": "320923001000",
    "county_staff": "320923001000",
    "township_supervisor": "320923001002",
    "grid_worker": "320923001001",
}
OUTSIDE_REGION = {
    "province_admin": "110000000000",
    "province_staff": "110000000000",
    "security_admin": "110000000000",
    "auditor": "110000000000",
    "city_admin": "320200000000",
    "city_staff": "320200000000",
    "county_admin": "320902000000",
    "county_staff": "320902000000",
    "township_supervisor": "320923002000",
    "grid_worker": "320923001002",
}
# A user each actor could manage if their role allows it, and one outside their region.
INSIDE_USER = {role: "fc_grid2" for role in ACTOR} | {"security_admin": "yc_auditor"}
OUTSIDE_USER = {
    "province_admin": "bj_grid",
    "province_staff": "bj_grid",
    "security_admin": "bj_auditor",
    "auditor": "bj_grid",
    "city_admin": "wx_grid",
    "city_staff": "wx_grid",
    "county_admin": "th_grid",
    "county_staff": "th_grid",
    "township_supervisor": "wt_grid1",
    "grid_worker": "fc_grid2",
}
