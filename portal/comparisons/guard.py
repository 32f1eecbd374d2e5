"""The guard before a comparison changes anything (比对前检查).

A comparison trusts its lists: run over an insured extract that was refused, or imported for the
wrong year, it would open a file on every insured person and send grid workers to persuade
people who have nothing to do. So the job first builds its work table (nothing written yet),
reads the figures per township from it (comparisons/operations.township_figures: one grouped
query) and asks `findings` whether they look like the lists' fault. A finding refuses the run
(run.state 'refused', nothing changed) unless the user confirmed it (run.forced, the web page's
"我已核实，仍然运行比对", `portal compare --force`); the findings are kept on the run either way.

Thresholds:
- MIN_COVERAGE 60 %: China's basic medical insurance covers about 95 % of the population (the
  national target is held above 95 %), and a county whose own lists are complete stays well above
  80 % even where migrant workers are many. Below 60 % the likely cause is a partial or wrong
  extract (another year, a county's records refused on import), not the population: refusing
  costs a click when it is real, while a wrong run opens tens of thousands of files at once.
- MAX_DROP 10 percentage points below the region's last successful run for the same year:
  coverage moves by a point or two between two extracts of one collection period (people pay,
  a few lapse); ten points lost at once is a list that lost records, not people who stopped.
- A township with persons that must be insured but not a single insured one: the extract
  misses that township's records (or the register placed people in the wrong township); with
  95 % coverage, a township of even a handful of persons with none insured is no accident.
"""

from dataclasses import dataclass

MIN_COVERAGE = 0.60
MAX_DROP = 0.10
# Townships named in the message; the run's checks keep them all.
NAMED_TOWNSHIPS = 20


@dataclass(frozen=True)
class Guard:
    """What the job knows before the comparison: whether the user confirmed, and the coverage
    of the region's last successful run for the year (None: no earlier run)."""

    forced: bool = False
    previous_run_id: int | None = None
    previous_coverage: float | None = None


def coverage(insured: int, must_insure: int) -> float | None:
    return insured / must_insure if must_insure else None


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def findings(year: int, totals: dict, townships: list[dict], guard: Guard) -> list[dict]:
    """What looks wrong with the figures a comparison would produce, each as
    {"code", "message" (Chinese), "figures"}; empty when nothing does."""
    must, insured = totals["must_insure"], totals["insured"]
    if must == 0:
        return []  # nobody to compare: the run changes nothing
    found = []
    if insured == 0:
        found.append(
            {
                "code": "no_insured",
                "message": (
                    f"没有可用的 {year} 年度参保记录：本区划 {must} 名应参保人员中，"
                    "没有一人有覆盖该年度的正常参保记录。通常是参保人员名单尚未导入、"
                    "导入的是其他年度的数据，或导入时被拒绝。继续运行将为所有人建立未参保档案"
                    f"（{totals['opened']} 份）。"
                ),
                "figures": {"must_insure": must, "insured": 0, "opened": totals["opened"]},
            }
        )
        return found  # every township is empty too: one finding says it all
    rate = coverage(insured, must)
    if rate < MIN_COVERAGE:
        found.append(
            {
                "code": "low_coverage",
                "message": (
                    f"比对后参保率仅为 {percent(rate)}（应参保 {must} 人，已参保 {insured} 人），"
                    f"低于 {percent(MIN_COVERAGE)}。全国基本医保参保率约 95%，"
                    "如此低的参保率通常说明参保人员名单不完整。继续运行将新建未参保档案 "
                    f"{totals['opened']} 份。"
                ),
                "figures": {
                    "must_insure": must,
                    "insured": insured,
                    "coverage": round(rate, 4),
                    "threshold": MIN_COVERAGE,
                    "opened": totals["opened"],
                },
            }
        )
    previous = guard.previous_coverage
    if previous is not None and previous - rate > MAX_DROP:
        found.append(
            {
                "code": "coverage_drop",
                "message": (
                    f"比对后参保率为 {percent(rate)}，比本区划 {year} 年度上次比对"
                    f"（#{guard.previous_run_id}，{percent(previous)}）下降 "
                    f"{(previous - rate) * 100:.1f} 个百分点，超过 {MAX_DROP * 100:.0f} 个百分点。"
                    "请确认这次导入的参保人员名单是否完整。"
                ),
                "figures": {
                    "coverage": round(rate, 4),
                    "previous_coverage": round(previous, 4),
                    "previous_run_id": guard.previous_run_id,
                    "max_drop": MAX_DROP,
                },
            }
        )
    empty = [t for t in townships if t["persons"] - t["excluded"] > 0 and t["insured"] == 0]
    if empty:
        names = "、".join(
            f"{t['name']}（{t['persons'] - t['excluded']} 人）" for t in empty[:NAMED_TOWNSHIPS]
        )
        more = f"等 {len(empty)} 个" if len(empty) > NAMED_TOWNSHIPS else ""
        found.append(
            {
                "code": "township_without_insured",
                "message": (
                    f"{len(empty)} 个乡镇（街道）有应参保人员却没有一人参保：{names}{more}。"
                    "请确认这些乡镇的参保记录已导入、户籍人员的所属社区填写正确。"
                ),
                "figures": {
                    "townships": [
                        {
                            "code": t["code"],
                            "name": t["name"],
                            "must_insure": t["persons"] - t["excluded"],
                        }
                        for t in empty
                    ]
                },
            }
        )
    return found
