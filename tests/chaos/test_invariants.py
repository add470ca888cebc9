"""The invariant registry: components' checkers run when the world provides them."""

from __future__ import annotations

from focusflow.actors.economics.ledger import CYB, MemoryLedger, SupplyJournal, mint, transfer
from focusflow.chaos.invariants import check_end, install, register_invariant, registered
from focusflow.chaos.world import ChaosWorld, provide
from focusflow.sim import Simulation


def test_economics_supply_invariant_runs_when_a_ledger_is_provided() -> None:
    sim = Simulation(1)
    world = ChaosWorld(sim)
    ledger, journal = MemoryLedger(), SupplyJournal()
    mint(ledger, journal, "a", CYB, 100, "genesis")
    provide(sim, "economics", (ledger, journal))
    install(world)
    assert "economics.supply_conserved" in sim.invariant_results
    transfer(ledger, "a", "b", CYB, 40)
    assert sim.check_invariants()
    ledger.set_balance("b", CYB, 41)  # a token appears outside mint()
    assert not sim.check_invariants()
    assert sim.violations[0][0] == "economics.supply_conserved"


def test_only_present_components_invariants_are_installed() -> None:
    sim = Simulation(1)
    install(ChaosWorld(sim))
    names = set(sim.invariant_results)
    assert "supervisor.restart_intensity" in names and "cores.invariants" in names
    assert not any(n.startswith(("economics.", "quorum.", "state.")) for n in names)


def test_a_component_registers_an_end_invariant_in_a_few_lines() -> None:
    @register_invariant("test.widgets_balanced", component="widgets", when="end")
    def _balanced(world: ChaosWorld) -> bool:
        for widgets in world.provided("widgets"):
            assert sum(widgets) == 0, f"widgets {widgets} do not balance"
        return True

    try:
        sim = Simulation(2)
        world = ChaosWorld(sim)
        widgets = [1, -1]
        provide(sim, "widgets", widgets)
        end = install(world)
        assert "test.widgets_balanced" in [s.name for s in end]
        check_end(world, end)
        assert not sim.violations
        widgets.append(5)
        check_end(world, end)
        assert sim.violations[0][0] == "test.widgets_balanced"
        assert "do not balance" in sim.violations[0][3]
    finally:
        from focusflow.chaos import invariants

        invariants._REGISTRY.pop("test.widgets_balanced", None)
    assert "test.widgets_balanced" not in registered()


def test_declared_durable_writes_must_survive_crashes() -> None:
    sim = Simulation(3)
    world = ChaosWorld(sim)
    sim.add_node("n0")
    disk = sim.disk("n0")
    disk.write("synced", b"1")
    disk.sync()
    disk.write("claimed", b"2")  # a component that claims durability without syncing
    provide(sim, "durable", ("n0", "synced", b"1"))
    provide(sim, "durable", ("n0", "claimed", b"2"))
    end = install(world)
    sim.crash_node("n0")
    check_end(world, end)
    (violation,) = sim.violations
    assert violation[0] == "sim.no_lost_durable_writes" and "claimed" in violation[3]


def test_a_core_violation_names_the_node_the_component_and_what_failed() -> None:
    """A bare ``assert`` in a core's invariants used to print an empty detail."""
    from typing import Any

    from focusflow.supervisor import Actor

    class _Core:
        broken = False

        def invariants(self) -> None:
            if self.broken:  # what a bare ``assert`` outside pytest's rewriting raises
                raise AssertionError

    class _Holder(Actor):
        def __init__(self) -> None:
            self.core = _Core()

        async def receive(self, msg: Any) -> Any:
            return None

    sim = Simulation(1)
    holder: list[_Holder] = []

    def boot(node: Any) -> None:
        node.spawn(_Holder, name="holder")

    sim.add_node("n0", boot=boot)
    install(ChaosWorld(sim))
    sim.run(until_ns=1_000_000)
    assert sim.check_invariants()
    holder.append(sim.node("n0")._cells["/user/holder"].actor)
    holder[0].core.broken = True
    assert not sim.check_invariants()
    name, _step, _t, detail = sim.violations[0]
    assert name == "cores.invariants"
    assert detail.startswith("node n0, actor /user/holder (_Holder), core _Core: AssertionError at ")
    assert "test_invariants.py:" in detail and detail.endswith(": raise AssertionError"), detail
