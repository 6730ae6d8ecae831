"""Pure shared-account (cross-world netted) policy check (SPEC §8)."""

from __future__ import annotations

from typing import Protocol

from app.contracts.orders import SharedAccountFigures
from app.errors import AppError, Code
from app.gateway.orders import Conversion

__all__ = ["AccountLimits", "check_policy", "figures_of"]


class AccountLimits(Protocol):
    """The shared-account limits (``gateway.shared_account_policy`` fits); None = no limit."""

    @property
    def max_gross_notional(self) -> float | None: ...
    @property
    def max_net_notional(self) -> float | None: ...
    @property
    def min_margin_headroom(self) -> float | None: ...


def figures_of(conversion: Conversion, total_equity: float) -> SharedAccountFigures:
    """Return the gross/net notional of ``conversion`` and the margin headroom it leaves.

    ``margin_headroom`` is ``1 − gross / total_equity`` (0 when there is no equity but there
    are orders, 1 when there are neither).
    """
    gross = conversion.gross_notional
    if total_equity > 0:
        headroom = 1.0 - gross / total_equity
    else:
        headroom = 0.0 if gross > 0 else 1.0
    return SharedAccountFigures(
        gross_notional=gross,
        net_notional=conversion.net_notional,
        margin_headroom=headroom,
        total_equity=total_equity,
    )


def check_policy(figures: SharedAccountFigures, policy: AccountLimits) -> None:
    """Raise 422 ``E_SHARED_ACCOUNT_POLICY`` with the figures when a limit is breached.

    Raises:
        AppError: one or more of ``max_gross_notional``, ``max_net_notional`` and
            ``min_margin_headroom`` is breached; ``breaches`` names them.
    """
    breaches: list[dict[str, object]] = []
    if policy.max_gross_notional is not None and figures.gross_notional > policy.max_gross_notional:
        breaches.append(
            {
                "limit": "max_gross_notional",
                "value": figures.gross_notional,
                "allowed": policy.max_gross_notional,
            }
        )
    net = abs(figures.net_notional)
    if policy.max_net_notional is not None and net > policy.max_net_notional:
        breaches.append(
            {"limit": "max_net_notional", "value": net, "allowed": policy.max_net_notional}
        )
    headroom = figures.margin_headroom
    if (
        policy.min_margin_headroom is not None
        and headroom is not None
        and headroom < policy.min_margin_headroom
    ):
        breaches.append(
            {
                "limit": "min_margin_headroom",
                "value": headroom,
                "allowed": policy.min_margin_headroom,
            }
        )
    if not breaches:
        return
    names = ", ".join(str(b["limit"]) for b in breaches)
    raise AppError(
        f"The shared-account execution breaches the policy ({names}).",
        code=Code.SHARED_ACCOUNT_POLICY,
        status=422,
        extra={
            "figures": {
                "gross_notional": figures.gross_notional,
                "net_notional": figures.net_notional,
                "margin_headroom": figures.margin_headroom,
                "total_equity": figures.total_equity,
            },
            "limits": {
                "max_gross_notional": policy.max_gross_notional,
                "max_net_notional": policy.max_net_notional,
                "min_margin_headroom": policy.min_margin_headroom,
            },
            "breaches": breaches,
        },
    )
