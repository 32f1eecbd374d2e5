"""What a duplicate case says to the user, in Chinese: the recommendation as the worklist and the
case page word it, the other side's record named by its scheme and region only."""

from portal.duplicates.models import ACTION_LABELS
from portal.duplicates.rules import explain, missing_label
from portal.persons import codes as person_codes


def short_recommendation(case, members, names) -> str:
    """The worklist's one line: the record to keep, or what a person must decide."""
    recommended = next((m for m in members if m.enrollment_id == case.recommended_id), None)
    if recommended is not None:
        scheme = person_codes.SCHEME_LABELS.get(recommended.scheme, recommended.scheme)
        place = names.get(recommended.region_code, recommended.region_code)
        return f"建议保留：{scheme} · {place}"
    missing = missing_label(case.rule, case.missing)
    return f"需人工判断：{missing}" if missing else "需人工判断"


def explanation(case, members, own_ids, names) -> list[str]:
    """The rule's recommendation, the policy's words and the subsidy consequence
    (rules.explain). Its sentence on the record to keep describes that record (category, payment,
    dates): when the record is the other side's, the page says only its scheme and region."""
    explained = explain(case)
    recommendation = explained.recommendation
    recommended = next((m for m in members if m.enrollment_id == case.recommended_id), None)
    if recommended is not None and recommended.enrollment_id not in own_ids:
        scheme = person_codes.SCHEME_LABELS.get(recommended.scheme, recommended.scheme)
        place = names.get(recommended.region_code, recommended.region_code)
        rule = explained.rule
        recommendation = f"建议保留：对方区划的{scheme}记录（{place}）"
        if rule is not None:
            others = ACTION_LABELS.get(rule.others, rule.others)
            recommendation += f"（{rule.keeps}），{others}其余 {len(members) - 1} 条记录。"
        else:
            recommendation += "。"
    return [line for line in (recommendation, explained.words, explained.consequence) if line]
