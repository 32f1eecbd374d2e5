"""Visit methods and outcomes, as data. Each outcome names the workflow action it takes."""

from dataclasses import dataclass

METHODS = (("in_person", "上门"), ("phone", "电话"), ("wechat", "微信"))
METHOD_LABELS = dict(METHODS)


@dataclass(frozen=True)
class Outcome:
    code: str
    label: str
    action: str  # the workflow action (portal/workflow/transitions.py) the outcome takes
    reason: str | None = None  # the reason not insured it implies (persons/codes.py REASONS)
    needs_reason: bool = False  # the worker must say why (declined)


# In the order the visit form offers them: the common cases first.
OUTCOMES = (
    Outcome("paid_today", "今日已缴费", "report_paid"),
    Outcome("will_pay", "同意参保，将缴费", "follow_up"),
    Outcome("unreachable", "联系不上", "follow_up", reason="lost_contact"),
    Outcome("away_working", "外出务工", "follow_up", reason="away_working"),
    Outcome("declined", "拒绝参保", "decline", needs_reason=True),
    Outcome("enrolled_here", "已在本地参保", "report_paid"),
    Outcome("enrolled_elsewhere", "异地参保", "propose_close", reason="insured_elsewhere"),
    Outcome("other_scheme", "参加其他保障", "propose_close", reason="other_scheme"),
    Outcome("deceased", "死亡", "propose_close", reason="deceased"),
    Outcome("settled_abroad", "出国(境)定居", "propose_close", reason="abroad"),
    Outcome("wrong_info", "信息有误", "propose_close", reason="wrong_record"),
    Outcome("other", "其他", "follow_up"),
)
OUTCOME_BY_CODE = {o.code: o for o in OUTCOMES}
OUTCOME_LABELS = {o.code: o.label for o in OUTCOMES}

REVIEW_STATES = (("pending", "待审核"), ("approved", "已通过"), ("returned", "已退回"))
REVIEW_STATE_LABELS = dict(REVIEW_STATES)
