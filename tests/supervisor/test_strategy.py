"""OTP supervision semantics as pure functions, table-driven against the OTP docs.

References: OTP ``supervisor`` manual (restart strategies, restart intensity, child
restart types) and ``supervisor.erl`` (``add_restart/3``).
"""

from __future__ import annotations

import pytest

from focusflow.supervisor import (
    Actor,
    ChildSpec,
    RestartPlan,
    SupervisorFlags,
    add_restart,
    backoff_ms,
    is_normal_exit,
    plan_restart,
    should_restart,
)

ORDER = ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("strategy", "failed", "stop", "start"),
    [
        # one_for_one: "only that process is affected"
        ("one_for_one", "a", (), ("a",)),
        ("one_for_one", "c", (), ("c",)),
        # one_for_all: "all other child processes are terminated and then all child
        # processes are restarted" (terminated in reverse start order, started in order)
        ("one_for_all", "a", ("d", "c", "b"), ("a", "b", "c", "d")),
        ("one_for_all", "c", ("d", "b", "a"), ("a", "b", "c", "d")),
        # rest_for_one: "the rest of the child processes (that is, the child processes
        # after the terminated child process in the start order) are terminated. Then
        # the terminated child process and the rest of the child processes are restarted"
        ("rest_for_one", "a", ("d", "c", "b"), ("a", "b", "c", "d")),
        ("rest_for_one", "b", ("d", "c"), ("b", "c", "d")),
        ("rest_for_one", "d", (), ("d",)),
    ],
)
def test_strategy_plans_follow_otp(strategy: str, failed: str, stop: tuple[str, ...],
                                   start: tuple[str, ...]) -> None:
    assert plan_restart(strategy, ORDER, failed) == RestartPlan(stop=stop, start=start)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("restart", "reason", "expected"),
    [
        ("permanent", "normal", True),
        ("permanent", "shutdown", True),
        ("permanent", "error:ValueError: x", True),
        ("transient", "normal", False),
        ("transient", "shutdown", False),
        ("transient", "shutdown:reached_max_restart_intensity", False),
        ("transient", "error:ValueError: x", True),
        ("transient", "killed", True),
        ("temporary", "error:ValueError: x", False),
        ("temporary", "normal", False),
    ],
)
def test_restart_types_follow_otp(restart: str, reason: str, expected: bool) -> None:
    assert should_restart(restart, reason) is expected  # type: ignore[arg-type]


def test_normal_exit_reasons() -> None:
    assert is_normal_exit("normal") and is_normal_exit("shutdown")
    assert is_normal_exit("shutdown:anything")
    assert not is_normal_exit("killed") and not is_normal_exit("error:x")


S = 1_000_000_000


@pytest.mark.parametrize(
    ("intensity", "period_ms", "restarts_at_s", "allowed"),
    [
        # OTP default: 1 restart in 5 s
        (1, 5000, [0], [True]),
        (1, 5000, [0, 1], [True, False]),
        (1, 5000, [0, 5], [True, False]),  # inclusive: t >= now - period is kept
        (1, 5000, [0, 6], [True, True]),
        # intensity 0: the first failure escalates
        (0, 5000, [0], [False]),
        (3, 10_000, [0, 1, 2, 3], [True, True, True, False]),
        (3, 10_000, [0, 1, 2, 20, 21], [True, True, True, True, True]),
    ],
)
def test_restart_intensity_follows_otp(intensity: int, period_ms: int,
                                       restarts_at_s: list[int], allowed: list[bool]) -> None:
    history: tuple[int, ...] = ()
    got = []
    for t in restarts_at_s:
        ok, history = add_restart(history, t * S, intensity=intensity, period_ms=period_ms)
        got.append(ok)
    assert got == allowed


def test_backoff_doubles_and_caps() -> None:
    assert [backoff_ms(i, base_ms=10, max_ms=100) for i in range(6)] == [10, 20, 40, 80, 100, 100]
    assert backoff_ms(5, base_ms=0, max_ms=100) == 0


def test_flags_have_otp_defaults_and_are_validated() -> None:
    flags = SupervisorFlags()
    assert (flags.strategy, flags.intensity, flags.period_ms) == ("one_for_one", 1, 5000)
    with pytest.raises(ValueError):
        SupervisorFlags(strategy="one_for_some")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SupervisorFlags(intensity=-1)
    with pytest.raises(ValueError):
        SupervisorFlags(period_ms=0)


def test_child_specs_are_validated() -> None:
    spec = ChildSpec("a", Actor)
    assert (spec.restart, spec.shutdown_ms) == ("permanent", 5000)
    for bad in (dict(id="", start=Actor), dict(id="a/b", start=Actor),
                dict(id="a", start=Actor, restart="sometimes"),
                dict(id="a", start=Actor, shutdown_ms=-1), dict(id="a", start="nocolon")):
        with pytest.raises(ValueError):
            ChildSpec(**bad)  # type: ignore[arg-type]
