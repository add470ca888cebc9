"""Property: the Supervisor actor escalates exactly when OTP's restart-intensity rule
(the pure ``add_restart``) says so, for random crash schedules in virtual time."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.sim import Simulation
from focusflow.supervisor import ChildSpec, Supervisor, SupervisorFlags, add_restart
from tests.supervisor.actors import Recorder
from tests.wire.msgs import Req


@settings(max_examples=25, deadline=None)
@given(intensity=st.integers(0, 3), period_ms=st.sampled_from([100, 500, 2_000]),
       gaps_ms=st.lists(st.integers(1, 800), min_size=1, max_size=6),
       strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]))
def test_supervisor_escalates_exactly_when_the_intensity_rule_says(
        intensity: int, period_ms: int, gaps_ms: list[int], strategy: str) -> None:
    sim = Simulation(1)
    node = sim.add_node("n")
    sup = node.spawn(Supervisor, SupervisorFlags(strategy=strategy, intensity=intensity,  # type: ignore[arg-type]
                                                 period_ms=period_ms),
                     [ChildSpec("a", Recorder, ("a",)), ChildSpec("b", Recorder, ("b",))])
    sim.run()
    victim = node.ref("n", sup.path + "/a")
    history: tuple[int, ...] = ()
    expect_alive = True
    for gap in gaps_ms:
        sim.run(for_ms=gap)
        if not node.is_alive(sup):
            break
        node.tell(victim, Req(-1))
        sim.run(for_ms=0.0)  # the crash and its restart take no virtual time
        sim.run(until=lambda: node.is_alive(victim) or not node.is_alive(sup))
        ok, history = add_restart(history, sim.now_ns(), intensity=intensity,
                                  period_ms=period_ms)
        if not ok:
            expect_alive = False
            break
    sim.run()
    assert node.is_alive(sup) is expect_alive
    if expect_alive:
        assert node.is_alive(victim) and node.is_alive(node.ref("n", sup.path + "/b"))
    else:
        assert node.actor_count() == 0
