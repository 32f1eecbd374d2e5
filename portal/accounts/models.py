"""Accounts, their role grants, and server-side login sessions."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db
from portal.regions.models import Region
from portal.timeutil import utcnow


class User(UserMixin, db.Model):
    """A person who signs in to the portal."""

    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    # The unit the account belongs to; lists of users are scoped by it.
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("region.code"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))

    region: Mapped[Region] = relationship(lazy="joined")
    grants: Mapped[list["Grant"]] = relationship(
        back_populates="user",
        lazy="selectin",
        cascade="all, delete-orphan",
        foreign_keys="Grant.user_id",
        order_by="Grant.id",
    )

    # The token of the login session this request came with (set by the user loader).
    current_session = None

    @property
    def is_active(self) -> bool:  # Flask-Login: inactive users cannot log in
        return bool(self.active)

    def get_id(self) -> str:
        # Flask-Login stores the session token, not the user id: revoking the token logs out.
        if self.current_session is None:
            raise RuntimeError("get_id() needs a login session")
        return self.current_session.token

    @property
    def role_names(self) -> set[str]:
        return {grant.role for grant in self.grants}

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class Grant(db.Model):
    """A role a user holds over one region and everything below it."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("user_id", "role", "region_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12), ForeignKey("region.code"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    granted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])
    region: Mapped[Region] = relationship(lazy="joined")

    @property
    def prefix(self) -> str:
        return self.region.prefix

    def __repr__(self) -> str:
        return f"<Grant {self.role}@{self.region_code}>"


class LoginSession(db.Model):
    """One signed-in browser; the cookie carries only its random token."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))

    user: Mapped[User] = relationship()

    # The raw token exists only in memory during login (it is never stored).
    token = None
