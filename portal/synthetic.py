"""Synthetic people for the demo and the benchmarks: valid ID numbers, Chinese names, phones.

Deterministic for a given seed, so a benchmark file or a demo workbook is the same every time.
No real person is described: names are drawn from common characters, IDs from the number space.
"""

import random
from datetime import date, timedelta

from portal.persons.idnumbers import check_character

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文斌辉鹏飞宇浩然欣怡子涵梓轩雨婷晨阳佳琪思远海燕春梅冬梅秋菊德福永康"  # noqa: E501


def person_rows(count: int, communities: list[str], seed: int = 1):
    """Yield (name, id_number, sex, phone, community code, address) tuples."""
    rng = random.Random(seed)
    start = date(1930, 1, 1)
    span = (date(2024, 12, 31) - start).days
    used: set[str] = set()
    while len(used) < count:
        community = rng.choice(communities)
        born = start + timedelta(days=rng.randrange(span))
        first17 = f"{community[:6]}{born:%Y%m%d}{rng.randrange(1000):03d}"
        id_number = first17 + check_character(first17)
        if id_number in used:
            continue
        used.add(id_number)
        sex = "男" if int(first17[16]) % 2 else "女"
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}" if rng.random() < 0.8 else ""
        address = f"{rng.randint(1, 300)}号{rng.randint(1, 30)}幢{rng.randint(101, 1802)}室"
        yield name, id_number, sex, phone, community, address
