"""Pure shared-account (cross-world netted) policy check (SPEC §8, §11)."""

from __future__ import annotations

import math
from typing import Protocol

from app.contracts.orders import SharedAccountFigures
from app.errors import AppError, Code, ValidationFailedError
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
    """Return the order notional of ``conversion`` and the headroom it leaves.

    The headroom is judged on the projected post-trade net exposure:
    ``max(0, 1 − |current_net + net_delta| / total_equity)`` (with no equity: 1 when the
    projected exposure is 0, else 0), so it measures the account after the trade, not the
    size of the trade.

    Raises:
        ValidationFailedError: the positions' notional is not finite (inputs too large).
    """
    current = conversion.current_net_notional
    projected = current + conversion.net_notional
    if not (math.isfinite(projected) and math.isfinite(conversion.gross_notional)):
        raise ValidationFailedError(
            "The account's notional is not finite; the inputs are too large to execute.",
            errors=[{"path": "$.positions", "message": "notional overflows"}],
        )
    if total_equity > 0:
        headroom = max(0.0, 1.0 - abs(projected) / total_equity)
    else:
        headroom = 1.0 if projected == 0.0 else 0.0
    return SharedAccountFigures(
        gross_notional=conversion.gross_notional,
        net_notional=conversion.net_notional,
        current_net_notional=current,
        projected_net_notional=projected,
        margin_headroom=headroom,
        total_equity=total_equity,
    )


def check_policy(figures: SharedAccountFigures, policy: AccountLimits) -> None:
    """Raise 422 ``E_SHARED_ACCOUNT_POLICY`` with the figures when a limit is breached.

    ``min_margin_headroom`` is breached only by a trade that grows the net exposure
    (``|projected| > |current|``): an unwind that reduces exposure is never refused for
    headroom, even when the account stays below the minimum.

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
    grows = abs(figures.projected_net_notional) > abs(figures.current_net_notional)
    if (
        policy.min_margin_headroom is not None
        and headroom is not None
        and headroom < policy.min_margin_headroom
        and grows
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
                "current_net_notional": figures.current_net_notional,
                "projected_net_notional": figures.projected_net_notional,
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
