"""π committed per block by the live validator: determinism across restarts (issue 8/9).

The incremental in-memory path and a rebuild from durable state must give bit-identical
commitment roots at every block (seeded and property tests on ``FocusState``), and the
SQLite ``Ledger`` reopened at any height (as after SIGKILL: nothing is closed) must go on
committing the roots an uninterrupted ledger commits. The semantics are the kernels':
the committed π agrees with the exact reference solve over stake-weighted cyberlinks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from focusflow.actors.state.core import LinkDeltas
from focusflow.actors.state.ids import Neuron, cid_of
from focusflow.actors.state.tx import TxKind, make_tx
from focusflow.kernels import (
    Backend,
    BackendUnavailable,
    CpuSolver,
    ExactCpuSolver,
    GraphStore,
    backend_for,
    dequantize,
    reference_focus,
    weights_from_cyberlinks,
)
from focusflow.kernels._exact import exact_reference, padded_start
from focusflow.node.chain import PI_ROOT_UNCOMMITTED, ChainError, Ledger
from focusflow.node.focus import (
    EMPTY_ROOT,
    STAKE_FLOOR,
    STAKE_UNITS_MAX,
    FocusState,
    stake_unit_for,
    stake_units,
)
from focusflow.supervisor import open_file_database

CIDS = [cid_of(f"particle {i}".encode()) for i in range(40)]
ADDRS = [bytes([7, i]) + bytes(18) for i in range(12)]
CHAIN = "focus-test"


def deltas(rows: list[tuple[bytes, int, int, int]]) -> LinkDeltas:
    """(neuron, src index, dst index, sign) rows as the state core's bulk arrays."""
    if not rows:
        return LinkDeltas.empty()
    return LinkDeltas(
        neuron=np.array([np.frombuffer(r[0], np.uint8) for r in rows]),
        src=np.array([np.frombuffer(CIDS[r[1]], np.uint8) for r in rows]),
        dst=np.array([np.frombuffer(CIDS[r[2]], np.uint8) for r in rows]),
        sign=np.array([r[3] for r in rows], np.int8))


def random_blocks(seed: int, count: int) -> list[tuple[LinkDeltas, dict[bytes, int]]]:
    """Blocks of links, unlinks (of live links only) and balance changes, like a chain."""
    rng = np.random.default_rng(seed)
    live: set[tuple[bytes, int, int]] = set()
    balances: dict[bytes, int] = {}
    out = []
    for _ in range(count):
        rows: list[tuple[bytes, int, int, int]] = []
        touched: dict[bytes, int] = {}
        for _ in range(int(rng.integers(0, 6))):
            u = ADDRS[int(rng.integers(len(ADDRS)))]
            if live and rng.random() < 0.25:
                link = sorted(live)[int(rng.integers(len(live)))]
                if any(r[:3] == link for r in rows):
                    continue
                live.discard(link)
                rows.append((*link, -1))
                touched[link[0]] = balances.get(link[0], 0)
                continue
            s, d = (int(x) for x in rng.choice(len(CIDS), 2, replace=False,
                                             p=_zipf(len(CIDS))))
            if (u, s, d) in live:
                continue
            live.add((u, s, d))
            rows.append((u, s, d, 1))
            touched[u] = balances.get(u, 0)
        if rng.random() < 0.3:  # a transfer moves stake (the receiver may hold links)
            u = ADDRS[int(rng.integers(len(ADDRS)))]
            balances[u] = int(rng.integers(0, 10**6))
            touched[u] = balances[u]
        out.append((deltas(rows), touched))
    return out


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return w / w.sum()


def durable(st_: FocusState, backend: str = "cpu") -> FocusState:
    """What a restart rebuilds from: numbering, links by address, balances, committed π."""
    st_.invariants()
    links = [(u, st_.cids[s], st_.cids[d]) for u, s, d in st_.link_rows()]
    links.reverse()  # a store hands them back in its own order, not ours
    balances = {st_.addresses[i]: b for i, b in enumerate(st_.stakes)}
    return FocusState.restore(height=st_.height, cids=list(st_.cids), links=links,
                              balances=balances, q=st_.q.copy(), backend=backend)


def run_with_restarts(blocks: list[tuple[LinkDeltas, dict[bytes, int]]],
                      restart_every: int) -> list[bytes]:
    """Roots per block of a state rebuilt from durable pieces every ``restart_every``."""
    state, roots = FocusState(), []
    for h, (d, bal) in enumerate(blocks, start=1):
        if restart_every and h % restart_every == 0:
            state = durable(state)
        roots.append(state.apply(h, d, bal).root)
    return roots


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_and_rebuilt_focus_commit_identical_roots_at_every_block(seed: int) -> None:
    blocks = random_blocks(seed, 40)
    straight = run_with_restarts(blocks, 0)
    assert len(set(straight)) > 20, "π must move as links arrive (else the test proves nothing)"
    assert EMPTY_ROOT not in straight[-5:]
    for every in (1, 3, 7):
        assert run_with_restarts(blocks, every) == straight, f"restart every {every} blocks"


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31), restart_every=st.integers(1, 9))
def test_any_restart_schedule_commits_the_uninterrupted_roots(seed: int, restart_every: int) -> None:
    blocks = random_blocks(seed, 15)
    assert run_with_restarts(blocks, restart_every) == run_with_restarts(blocks, 0)


def test_a_block_without_link_or_stake_change_keeps_pi() -> None:
    state = FocusState()
    first = state.apply(1, deltas([(ADDRS[0], 0, 1, 1), (ADDRS[1], 1, 2, 1)]), {})
    same = state.apply(2, LinkDeltas.empty(), {ADDRS[5]: 10})  # not a linking neuron
    assert same.root == first.root and same.iterations == 0
    moved = state.apply(3, LinkDeltas.empty(), {ADDRS[0]: 10**6})  # a linking neuron's stake
    assert moved.root != first.root and moved.iterations > 0


def test_committed_pi_is_the_stake_weighted_focus_of_the_kernels() -> None:
    blocks = random_blocks(11, 30)
    state = FocusState()
    for h, (d, bal) in enumerate(blocks, start=1):
        fb = state.apply(h, d, bal)
    assert fb.converged and fb.verified
    links = [(state.neurons[u], s, d) for u, s, d in state.link_rows()]
    stakes = {i: float(b + STAKE_FLOOR) for i, b in enumerate(state.stakes)}
    exact = reference_focus(state.n, weights_from_cyberlinks(links, stakes))
    assert np.abs(dequantize(state.q) - exact).sum() < 1e-5
    rows = deltas([(ADDRS[0], 0, 1, 1)] + [(ADDRS[i], 0, 2, 1) for i in range(1, 6)])
    poor, rich = FocusState(), FocusState()
    poor.apply(1, rows, {})
    rich.apply(1, rows, {ADDRS[0]: 1000})  # one funded neuron outweighs five unfunded ones
    assert poor.q[2] > 1.2 * poor.q[1] and rich.q[1] > 1.2 * rich.q[2]


def link_txs(height: int, rng: np.random.Generator) -> list[bytes]:
    out = []
    for k in range(3):
        neuron = Neuron.from_seed(bytes([height % 256, k, height // 256]) + bytes(29))
        pairs = {tuple(int(x) for x in rng.choice(len(CIDS), 2, replace=False)) for _ in range(4)}
        out.append(make_tx(neuron, chain_id=CHAIN, nonce=0, kind=TxKind.LINK,
                           links=[(CIDS[a], CIDS[b]) for a, b in sorted(pairs)]))
    return out


def test_ledger_reopened_without_close_goes_on_committing_the_same_roots(tmp_path: Path) -> None:
    """A reopen without close is what SIGKILL leaves: the last commit and nothing else."""
    rng = np.random.default_rng(5)
    blocks = [link_txs(h, rng) for h in range(1, 25)]
    steady = Ledger(open_file_database(tmp_path / "a.sqlite"), chain_id=CHAIN)
    want = [steady.execute(txs) for txs in blocks]
    assert len({pi for _, pi in want}) == len(want)
    path = tmp_path / "b.sqlite"
    ledger = Ledger(open_file_database(path), chain_id=CHAIN)
    abandoned = []
    for h, txs in enumerate(blocks, start=1):
        if h % 4 == 0:
            abandoned.append(ledger)  # never closed: its connections just stop being used
            ledger = Ledger(open_file_database(path), chain_id=CHAIN)
            assert ledger.core.height == h - 1 and ledger.focus.root == want[h - 2][1]
        assert ledger.execute(txs) == want[h - 1], f"block {h}"
    assert ledger.pi_roots(1, 24) == steady.pi_roots(1, 24)
    assert ledger.top_particles(5) == steady.top_particles(5)
    top = steady.top_particles(3)
    assert top[0][1] >= top[1][1] >= top[2][1] > 1.0 / len(CIDS)
    for led in [steady, ledger, *abandoned]:
        led.close()


def test_a_link_made_and_unmade_in_one_block_nets_out_like_the_state_core() -> None:
    state = FocusState()
    state.apply(1, deltas([(ADDRS[0], 0, 1, 1), (ADDRS[0], 1, 2, 1)]), {})
    # block 2: make 2->3 and unmake it again; unmake 0->1 and make it again
    fb = state.apply(2, deltas([(ADDRS[0], 2, 3, 1), (ADDRS[0], 0, 1, -1), (ADDRS[0], 2, 3, -1),
                                (ADDRS[0], 0, 1, 1)]), {})
    state.invariants()
    assert sorted(state.link_rows()) == [(ADDRS[0], 0, 1), (ADDRS[0], 1, 2)]
    assert state.link_counts == [2] and fb.particles == 4
    with pytest.raises(AssertionError):  # a link made twice is a local bug, never absorbed
        state.apply(3, deltas([(ADDRS[0], 0, 1, 1)]), {})


def test_a_ledger_with_pi_switched_off_commits_zeros_and_reopens(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    ledger = Ledger(open_file_database(tmp_path / "off.sqlite"), chain_id=CHAIN, commit_pi=False)
    roots = [ledger.execute(link_txs(h, rng)) for h in (1, 2)]
    assert all(pi == PI_ROOT_UNCOMMITTED for _, pi in roots) and ledger.top_particles(3) == []
    again = Ledger(open_file_database(tmp_path / "off.sqlite"), chain_id=CHAIN, commit_pi=False)
    assert again.core.height == 2 and again.pi_root_at(2) == PI_ROOT_UNCOMMITTED
    with pytest.raises(ChainError, match="not written with π"):  # π needs its history
        Ledger(open_file_database(tmp_path / "off.sqlite"), chain_id=CHAIN)
    for led in (ledger, again):
        led.close()


def test_the_state_holds_the_previous_blocks_pi_and_rewrites_only_changed_slices(
        tmp_path: Path) -> None:
    """Block h + 1 writes π of block h into ``/graph/pi`` (the state root binds it), only
    the shards that changed; a ledger reopened (as after SIGKILL) between any two blocks,
    empty ones included, writes the same and so commits the same state roots."""
    rng = np.random.default_rng(3)
    blocks = [link_txs(h, rng) if h % 4 else [] for h in range(1, 17)]  # 4, 8, ...: empty
    blocks[8] = []  # two empty blocks in a row (8, 9): the second has nothing to write
    steady = Ledger(open_file_database(tmp_path / "a.sqlite"), chain_id=CHAIN)
    in_state = np.zeros(0, np.uint64)  # what the state holds: π of block h - 2
    want, slices = [], []
    for h, txs in enumerate(blocks, start=1):
        cids, q = list(steady.focus.cids), steady.focus.q.copy()  # π of block h - 1
        want.append(steady.execute(txs))
        assert [steady.core.focus(c) for c in cids] == [int(x) for x in q], f"block {h}"
        assert all(steady.core.focus(c) is None for c in steady.focus.cids[len(cids):])
        changed = {steady.core.focus_shard(c) for i, c in enumerate(cids)
                   if i >= len(in_state) or q[i] != in_state[i]}
        in_state = q
        assert steady.slices.last_slices == len(changed), f"block {h}"
        slices.append(len(changed))
    # Block 9 writes no slice (π did not move); its root still moves: the economics'
    # state (height, the breaker's price window) is under the root too.
    assert slices[0] == 0 and slices[8] == 0 and want[8][1] == want[7][1]
    assert max(slices) > steady.core.focus_shards // 2 and steady.slices_written == sum(slices)
    off = Ledger(open_file_database(tmp_path / "off.sqlite"), chain_id=CHAIN, pi_in_state=False)
    roots_off = [off.execute(txs) for txs in blocks]
    assert roots_off[0] == want[0] and all(  # π roots equal, state roots bind π
        a[0] != b[0] and a[1] == b[1] for a, b in zip(roots_off[1:], want[1:], strict=True))
    path, opened = tmp_path / "b.sqlite", []
    ledger = Ledger(open_file_database(path), chain_id=CHAIN)
    for h, txs in enumerate(blocks, start=1):
        if h in (3, 5, 9, 10, 11):
            opened.append(ledger)  # never closed: what SIGKILL leaves
            ledger = Ledger(open_file_database(path), chain_id=CHAIN)
            ledger.slices.invariants()
        assert ledger.execute(txs) == want[h - 1], f"block {h}"
    assert ledger.state_roots(1, 16) == steady.state_roots(1, 16)
    for led in [steady, off, ledger, *opened]:
        led.close()


# -- the exact π (issue 17 item 3) ---------------------------------------------------------
def _webgpu_or_skip() -> None:
    try:
        backend_for("webgpu")
    except BackendUnavailable as exc:
        pytest.skip(str(exc))


def test_each_committed_pi_is_the_integer_definition_started_from_the_previous_one() -> None:
    """The chain's π of block h is the definition (Python integers, ``exact_reference``) on
    a fresh exact store of the block's links and stakes, started from π of block h − 1:
    nothing of the resident store's history or of the solver's memory leaks in."""
    state, previous = FocusState(), np.zeros(0, np.uint64)
    for h, (d, bal) in enumerate(random_blocks(4, 25), start=1):
        fb = state.apply(h, d, bal)
        if fb.iterations:
            u, s, t = state.store.cyberlinks()
            stakes = {i: stake_units(b, state.link_counts[i]) for i, b in enumerate(state.stakes)}
            fresh = GraphStore.from_cyberlinks(u, s, t, stakes, n=state.n, exact=True)
            q, iterations, converged = exact_reference(
                fresh, start=padded_start(previous, state.n))
            assert converged and iterations == fb.iterations, f"block {h}"
            assert [int(x) for x in fb.q] == q, f"block {h}"
        else:
            np.testing.assert_array_equal(fb.q, previous)
        previous = fb.q.copy()


@pytest.mark.parametrize("backend", ["auto", pytest.param("webgpu", marks=pytest.mark.webgpu)])
def test_every_backend_and_any_restart_mix_commit_the_cpu_roots(backend: str) -> None:
    """A validator on WebGPU (or ``auto``), restarted onto the CPU and back every few
    blocks, commits the CPU validator's root at every block: the definition is integers."""
    if backend == "webgpu":
        _webgpu_or_skip()
    blocks = random_blocks(6, 30)
    cpu = run_with_restarts(blocks, 0)
    state, roots = FocusState(backend=backend), []
    for h, (d, bal) in enumerate(blocks, start=1):
        if h % 7 == 0:
            state = durable(state, backend="cpu" if h % 14 == 0 else backend)
        fb = state.apply(h, d, bal)
        roots.append(fb.root)
        if fb.iterations and state.backend == "webgpu":
            assert fb.backend == "webgpu", "it must really run there (no silent fallback)"
    assert roots == cpu


class _Broken(ExactCpuSolver):
    """A device that dies in the middle of a solve."""

    backend = "broken"

    def _run(self, count: int) -> list[int]:
        raise RuntimeError("device lost")


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, object]]] = []

    def warning(self, event: str, **kw: object) -> None:
        self.lines.append((event, kw))


def test_a_device_that_fails_falls_back_to_the_cpu_with_a_log_line_and_the_same_roots(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import focusflow.node.focus as focus_mod

    def fake_backend_for(name: str) -> Backend:
        if name == "cuda":
            raise BackendUnavailable("cuda: no CUDA device (test)")
        return Backend(name, "test", CpuSolver, _Broken)

    monkeypatch.setattr(focus_mod, "backend_for", fake_backend_for)
    blocks = random_blocks(8, 12)
    want = run_with_restarts(blocks, 0)
    for backend, stage in (("webgpu", "solve"), ("cuda", "start")):
        log = _Log()
        state = FocusState(backend=backend, log=log)
        roots = [state.apply(h, d, bal).root for h, (d, bal) in enumerate(blocks, start=1)]
        assert roots == want and state.solver_backend == "cpu"
        assert [(e, kw["stage"]) for e, kw in log.lines] == [("focus_backend_fallback", stage)]
    with pytest.raises(ValueError, match="focus backend"):
        FocusState(backend="tpu")


def test_the_stake_unit_keeps_any_chain_within_the_exact_bound(tmp_path: Path) -> None:
    """Balances up to the genesis supply never push Σ stake past the exact store's bound:
    the unit is fixed at genesis, persisted, and read back by a reopened ledger."""
    assert stake_unit_for(0) == stake_unit_for(STAKE_UNITS_MAX) == 1
    assert stake_unit_for(STAKE_UNITS_MAX + 1) == 2
    assert stake_units(10**6, 0) == 0 and stake_units(10**6, 3) == 10**6 + STAKE_FLOOR
    supply = 2**64 - 1  # one whale holding what a u64 balance can hold
    unit = stake_unit_for(supply)
    state = FocusState(stake_unit=unit)
    rows = [(ADDRS[i], i, i + 1, 1) for i in range(6)]
    state.apply(1, deltas(rows), {ADDRS[0]: supply})  # every stake at once: Σ within bound
    fb = state.apply(2, LinkDeltas.empty(), {ADDRS[0]: 0, ADDRS[1]: supply})  # the whale moves
    assert fb.iterations > 0 and fb.converged
    assert state.q[2] > state.q[1], "the funded neuron's link outweighs the others"
    neuron = Neuron.from_seed(bytes(32))
    path = tmp_path / "rich.sqlite"
    ledger = Ledger(open_file_database(path), chain_id=CHAIN,
                    genesis_balances={neuron.address: 2**50})
    assert ledger.stake_unit == stake_unit_for(2**50) == 2**13
    tx = make_tx(neuron, chain_id=CHAIN, nonce=0, kind=TxKind.LINK, links=[(CIDS[0], CIDS[1])])
    _, pi = ledger.execute([tx])
    again = Ledger(open_file_database(path), chain_id=CHAIN)  # no genesis handed in
    assert again.stake_unit == 2**13 and again.focus.root == pi
    for led in (ledger, again):
        led.close()


def test_ledgers_reopened_at_random_heights_commit_the_same_roots_over_many_blocks(
        tmp_path: Path) -> None:
    """80 blocks of links, reopened (as after SIGKILL) at 20 random heights, each reopen
    on another backend when one is at hand: every π and state root equals the
    uninterrupted ledger's."""
    rng = np.random.default_rng(21)
    blocks = [link_txs(h, rng) if h % 9 else [] for h in range(1, 81)]
    steady = Ledger(open_file_database(tmp_path / "a.sqlite"), chain_id=CHAIN)
    want = [steady.execute(txs) for txs in blocks]
    backends = ["cpu", "auto"]
    try:
        backend_for("webgpu")
        backends.append("webgpu")
    except BackendUnavailable:
        pass
    reopen = set(rng.choice(np.arange(2, 81), 20, replace=False).tolist())
    path, opened = tmp_path / "b.sqlite", []
    ledger = Ledger(open_file_database(path), chain_id=CHAIN)
    for h, txs in enumerate(blocks, start=1):
        if h in reopen:
            opened.append(ledger)
            ledger = Ledger(open_file_database(path), chain_id=CHAIN,
                            focus_backend=backends[len(opened) % len(backends)])
        assert ledger.execute(txs) == want[h - 1], f"block {h}"
    assert ledger.pi_roots(1, 80) == steady.pi_roots(1, 80)
    assert len({pi for _, pi in want}) > 60
    for led in [steady, ledger, *opened]:
        led.close()
