"""Code lists of the person file, as data: key populations, schemes, states, reasons.

Each list is (code, Chinese label[, extra]) in display order. Codes are stored; labels are shown.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class KeyPopulation:
    code: str
    label: str
    bit: int
    government_paid: bool  # contributions paid by government: coverage must reach 100%


KEY_POPULATIONS = (
    KeyPopulation("extreme_poverty", "特困人员", 1 << 0, True),
    KeyPopulation("minimum_allowance", "低保对象", 1 << 1, True),
    KeyPopulation("lifted_poverty", "脱贫人口", 1 << 2, True),
    KeyPopulation("monitored", "防返贫监测对象", 1 << 3, True),
    KeyPopulation("orphan", "孤儿及事实无人抚养儿童", 1 << 4, True),
    KeyPopulation("severe_disability", "重度残疾人", 1 << 5, True),
    KeyPopulation("veteran", "优抚对象", 1 << 6, True),
    KeyPopulation("student", "在校学生", 1 << 7, False),
    KeyPopulation("newborn", "新生儿", 1 << 8, False),
    KeyPopulation("flexible_worker", "灵活就业人员", 1 << 9, False),
    KeyPopulation("migrant_worker", "农民工", 1 << 10, False),
    KeyPopulation("land_lost_farmer", "被征地农民", 1 << 11, False),
    KeyPopulation("released_prisoner", "刑满释放人员", 1 << 12, False),
    KeyPopulation("lapsed_payer", "断缴人员", 1 << 13, False),
)
KEY_POPULATION_BY_CODE = {k.code: k for k in KEY_POPULATIONS}
GOVERNMENT_PAID_MASK = sum(k.bit for k in KEY_POPULATIONS if k.government_paid)


def key_population_labels(mask: int) -> list[str]:
    return [k.label for k in KEY_POPULATIONS if mask & k.bit]


SCHEMES = (("employee", "职工医保"), ("resident", "居民医保"))
SCHEME_LABELS = dict(SCHEMES)

ENROLLMENT_STATUSES = (("normal", "正常"), ("suspended", "暂停"), ("terminated", "终止"))
ENROLLMENT_STATUS_LABELS = dict(ENROLLMENT_STATUSES)

INSURED_STATUSES = (("insured", "已参保"), ("uninsured", "未参保"), ("unknown", "未比对"))
INSURED_STATUS_LABELS = dict(INSURED_STATUSES)

FILE_STATES = (
    ("unassigned", "待分配"),
    ("assigned", "待走访"),
    ("following", "跟进中"),
    ("pending_confirmation", "待比对确认"),  # paid / enrolled here: the next comparison confirms
    ("pending_review", "待审核"),  # a proposed closure the supervisor reviews
    ("enrolled", "已参保"),
    ("exempt", "已核销"),
    ("declined", "拒绝参保"),
)
FILE_STATE_LABELS = dict(FILE_STATES)
CLOSED_FILE_STATES = ("enrolled", "exempt")
# Everything not closed; a declined file stays in the ledger and comes back next period.
OPEN_FILE_STATES = tuple(code for code, _ in FILE_STATES if code not in CLOSED_FILE_STATES)
# On a grid worker's task list: the files waiting for their visit.
WORK_STATES = ("assigned", "following")
# A person who declined needs repeated persuasion (动员): the declined file stays in the worker's
# work, back on the task list from its follow-up date (before that, or without one, in a section
# of its own), found by the search, counted in the worker's and the supervisor's figures, and
# back for the next collection period (workflow `return_declined`).
DECLINED = "declined"
# Every state a file in the worker's hands is worked in.
WORKER_STATES = (*WORK_STATES, DECLINED)

FILE_TYPES = (("uninsured", "未参保"), ("lapsed", "断缴"))
FILE_TYPE_LABELS = dict(FILE_TYPES)

REASONS = (
    ("insured_elsewhere", "异地参保"),
    ("other_scheme", "参加其他保障"),
    ("deceased", "死亡未销户"),
    ("abroad", "出国(境)定居"),
    ("in_prison", "服刑"),
    ("away_working", "外出务工"),
    ("lost_contact", "失联"),
    ("hardship", "经济困难"),
    ("declined", "自愿放弃"),
    ("wrong_record", "户籍信息有误"),
    ("other", "其他"),
)
REASON_LABELS = dict(REASONS)

# An approved closure for one of these takes the person out of the population that must be
# insured (应参保人员) from then on (person.excluded_reason), until a later list shows otherwise.
EXCLUSION_REASONS = (
    ("deceased", "死亡"),
    ("abroad", "出国(境)定居"),
    ("other_scheme", "参加其他保障"),
)
EXCLUSION_REASON_LABELS = dict(EXCLUSION_REASONS)
