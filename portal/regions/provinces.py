"""The 31 provinces of the national region tree by their two-digit code (统计用区划代码).

A deployment loads only its own province's tree (the demo ships Yancheng alone), yet an insured
extract names insured places anywhere in the country (异地参保). These names let a page say at
least which province an unloaded code lies in, and let an import tell a real-looking code from
a typing error.
"""

PROVINCES = {
    "11": "北京市",
    "12": "天津市",
    "13": "河北省",
    "14": "山西省",
    "15": "内蒙古自治区",
    "21": "辽宁省",
    "22": "吉林省",
    "23": "黑龙江省",
    "31": "上海市",
    "32": "江苏省",
    "33": "浙江省",
    "34": "安徽省",
    "35": "福建省",
    "36": "江西省",
    "37": "山东省",
    "41": "河南省",
    "42": "湖北省",
    "43": "湖南省",
    "44": "广东省",
    "45": "广西壮族自治区",
    "46": "海南省",
    "50": "重庆市",
    "51": "四川省",
    "52": "贵州省",
    "53": "云南省",
    "54": "西藏自治区",
    "61": "陕西省",
    "62": "甘肃省",
    "63": "青海省",
    "64": "宁夏回族自治区",
    "65": "新疆维吾尔自治区",
}


def province_name(code: str | None) -> str | None:
    """The name of the province a region code (any length) lies in, if it is one of the 31."""
    return PROVINCES.get((code or "")[:2])
