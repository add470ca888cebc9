"""Plot scenario results to a PNG (the only module here that uses floats: it draws).

matplotlib is a development dependency, imported only when a plot is asked for, with
the Agg backend so it works without a display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from focusflow.actors.economics.fixed import PPB, WAD
from focusflow.actors.economics.params import EconParams
from focusflow.actors.economics.year import ScenarioResult, blocks_per_day, unit

TITLES = {
    "rising": "Rising demand (1.0 → 3.0)",
    "falling": "Falling demand (1.0 → 0.3)",
    "shock": "Shock (crash on day 150, slow recovery)",
}


def _breaker_inset(ax: Any, res: ScenarioResult) -> None:
    """Zoom on the blocks around the trips: the price per block, halted blocks in red."""
    halted = [i for i, t in enumerate(res.block_tripped) if t]
    first, last = halted[0], halted[-1]
    lo = max(0, first - 2 * blocks_per_day)
    hi = min(len(res.block_tripped), last + 4 * blocks_per_day)
    inset = ax.inset_axes((0.09, 0.05, 0.29, 0.38))  # lower left: empty before the crash
    xs = [i / blocks_per_day for i in range(lo, hi)]
    inset.plot(xs, [res.block_price_wad[i] / WAD for i in range(lo, hi)], color="tab:cyan", lw=1)
    for i in range(lo, hi):
        if res.block_tripped[i]:
            inset.axvspan(i / blocks_per_day, (i + 1) / blocks_per_day, color="tab:red", alpha=0.3, lw=0)
    inset.set_title(f"zoom: H price per block, {res.breaker_trips} trips:\n"
                    "AMM halted (red), then reset", fontsize=6.5)  # fmt: skip
    inset.tick_params(labelsize=6)
    inset.set_facecolor("white")


def plot_scenarios(
    results: Sequence[ScenarioResult], path: str | Path, *, params: EconParams | None = None
) -> Path:
    """Draw premium, split and supply over time, one column per scenario; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert results, "nothing to plot"
    p = params or EconParams()
    cols = len(results)
    fig, axes = plt.subplots(3, cols, figsize=(5.2 * cols, 10), sharex=True, squeeze=False)
    for c, res in enumerate(results):
        days = [s.day for s in res.samples]
        ax_p, ax_s, ax_q = axes[0][c], axes[1][c], axes[2][c]
        for ax in (ax_p, ax_s, ax_q):
            for s in res.samples:
                if s.tripped_blocks:  # shade by the share of the day's blocks that were halted
                    alpha = 0.08 + 0.3 * s.tripped_blocks / 24
                    ax.axvspan(s.day - 0.5, s.day + 0.5, color="tab:red", alpha=alpha, lw=0)
        # Row 1: premium p/d against its policy band, and the demand index.
        prem = [(s.premium_ppb or 0) / PPB for s in res.samples]
        ax_p.axhspan(p.premium_low_ppb / PPB, p.premium_high_ppb / PPB, color="0.9", label="policy band")
        ax_p.plot(days, prem, color="tab:purple", lw=1.8, label="premium p/d")
        ax_p.plot(days, [s.demand_ppb / PPB for s in res.samples], color="0.35", ls=":", label="demand index")
        ax_p.plot(days, [(s.price_wad or 0) / WAD for s in res.samples], color="tab:cyan", lw=1, label="H price (CYB)")
        ax_p.set_title(TITLES.get(res.scenario, res.scenario), fontsize=11)
        if res.breaker_trips:
            _breaker_inset(ax_p, res)
        # Row 2: the gas split actually used (stacked), with the anchors' extremes.
        burn = [s.split_ppb[0] / PPB * 100 for s in res.samples]
        rew = [s.split_ppb[1] / PPB * 100 for s in res.samples]
        liq = [s.split_ppb[2] / PPB * 100 for s in res.samples]
        ax_s.stackplot(
            days, burn, rew, liq, colors=["tab:orange", "tab:green", "tab:blue"], alpha=0.8,
            labels=["buyback & burn CYB", "H rewards", "liquidity"],
        )  # fmt: skip
        ax_s.set_ylim(0, 100)
        # Row 3: supplies indexed to day 0, so a 5% burn is as visible as a 50% one.
        first = res.samples[0]
        for attr, color, ls, label in (
            ("supply_cyb", "tab:orange", "-", "CYB supply"),
            ("supply_h", "tab:blue", "-", "H supply"),
            ("staked_cyb", "tab:blue", "--", "staked CYB"),
        ):
            base = getattr(first, attr) or 1
            ax_q.plot(days, [getattr(x, attr) / base * 100 for x in res.samples], color=color, ls=ls, label=label)
        ax_q.axhline(100, color="0.5", lw=0.8)
        ax_q.set_xlabel("day")
        ax_q.set_title(
            f"CYB burned {res.samples[-1].burned_cyb_total / unit / 1e6:.2f} M · "
            f"breaker trips {res.breaker_trips} · supply_conserved {res.supply_conserved}",
            fontsize=9,
        )
        for ax in (ax_p, ax_s, ax_q):
            ax.grid(alpha=0.3)
            ax.set_xlim(0, max(days[-1], 1))
    axes[0][0].set_ylabel("ratio (1.0 = parity)")
    axes[1][0].set_ylabel("gas split (% of H gas)")
    axes[2][0].set_ylabel("supply (% of day 0)")
    axes[0][0].legend(loc="upper left", fontsize=8)
    axes[1][0].legend(loc="upper left", fontsize=8)
    axes[2][0].legend(loc="upper left", fontsize=8)
    fig.suptitle(
        "focusflow economics: one year per demand scenario — premium p/d steers the gas split "
        "(red: circuit breaker tripped)",
        fontsize=12,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
