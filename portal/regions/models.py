"""The region tree: province → city → county → township → community."""

from sqlalchemy import ForeignKey, SmallInteger, String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from portal.extensions import db
from portal.regions import codes


class Region(db.Model):
    """One administrative region, keyed by its 12-digit statistical code."""

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[int] = mapped_column(SmallInteger)
    parent_code: Mapped[str | None] = mapped_column(
        String(12), ForeignKey("region.code"), index=True
    )

    @property
    def prefix(self) -> str:
        return codes.prefix(self.code, self.level)

    @property
    def level_name(self) -> str:
        return codes.LEVEL_NAMES[self.level]

    def ancestor_codes(self) -> list[str]:
        """Codes of the ancestors, province first."""
        return [codes.pad(self.code[: codes.PREFIX_LENGTH[lv]]) for lv in range(1, self.level)]

    @classmethod
    def children_query(cls, code: str):
        return select(cls).where(cls.parent_code == code).order_by(cls.code)

    @classmethod
    def child_counts(cls, parent_codes: list[str]) -> dict[str, int]:
        """How many children each of the given regions has (one GROUP BY)."""
        if not parent_codes:
            return {}
        rows = db.session.execute(
            select(cls.parent_code, func.count())
            .where(cls.parent_code.in_(parent_codes))
            .group_by(cls.parent_code)
        )
        return dict(rows.all())

    def __repr__(self) -> str:
        return f"<Region {self.code} {self.name}>"
