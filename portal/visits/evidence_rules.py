"""Which visit outcomes need evidence (证明材料), what to photograph, and when a supervisor may
approve a closure without it: one table, read by the visit writer, the form and the review.

- ``required``: the worker cannot propose the closure without at least one image; the hint says
  what to photograph. There is no waiver at the worker's level.
- ``waiver``: a supervisor may still approve a proposal that has no evidence (one proposed
  before evidence existed, or by a supervisor on the phone) only by typing a reason (豁免原因);
  the reason is kept on the visit, in the file's history and in the review's audit record.
  The text says when such a waiver is acceptable; the portal does not judge the reason.
- An outcome that is not in the table takes no evidence requirement (evidence may still be
  attached to any visit: it is kept with it).
"""

from dataclasses import dataclass

from portal.visits.codes import OUTCOME_LABELS


@dataclass(frozen=True)
class EvidenceRule:
    outcome: str
    required: bool
    hint: str  # what to photograph, in the worker's words
    waiver: str = ""  # when a supervisor may approve without evidence (with a reason)

    @property
    def label(self) -> str:
        return OUTCOME_LABELS.get(self.outcome, self.outcome)


RULES = (
    EvidenceRule(
        "deceased",
        True,
        "死亡证明、火化证明或户籍注销证明",
        "家属无法提供且村（居）委会已出具书面说明，或已在公安户籍系统核实注销的",
    ),
    EvidenceRule(
        "settled_abroad",
        True,
        "定居国外（境外）的证明材料，如户籍注销证明或居留证件",
        "已在公安户籍系统核实注销户籍的",
    ),
    EvidenceRule(
        "other_scheme",
        True,
        "参加其他保障（如公费医疗、军人保障）的证明",
        "已向相关单位书面核实的",
    ),
    EvidenceRule(
        "enrolled_elsewhere",
        True,
        "异地参保凭证截图（如国家医保服务平台 App 的参保信息页）",
        "督导已在国家医保信息平台查询核实其异地参保的",
    ),
    EvidenceRule("wrong_info", False, "可拍摄户口簿、身份证明等能说明信息有误的材料（可不上传）"),
)
RULE_BY_OUTCOME = {rule.outcome: rule for rule in RULES}


def rule_for(outcome: str) -> EvidenceRule | None:
    return RULE_BY_OUTCOME.get(outcome)


def requires_evidence(outcome: str) -> bool:
    rule = rule_for(outcome)
    return bool(rule and rule.required)


def missing_message(outcome: str, count: int) -> str | None:
    """The worker's refusal when a required-evidence outcome comes without any image."""
    rule = rule_for(outcome)
    if rule is None or not rule.required or count > 0:
        return None
    return f"走访结果为“{rule.label}”时须上传证明材料照片：{rule.hint}。请拍照或选择照片后再提交。"


def needs_waiver(outcome: str, count: int) -> bool:
    """Approving this proposal needs a waiver reason (required evidence, none attached)."""
    return requires_evidence(outcome) and count == 0


def waiver_message(outcome: str) -> str:
    rule = rule_for(outcome)
    label = rule.label if rule else OUTCOME_LABELS.get(outcome, outcome)
    hint = f"（{rule.hint}）" if rule else ""
    when = f"可豁免的情形：{rule.waiver}。" if rule and rule.waiver else ""
    return (
        f"该申请没有证明材料。走访结果为“{label}”时须有证明材料{hint}；"
        f"如确需无材料通过，请填写豁免原因。{when}"
    )
