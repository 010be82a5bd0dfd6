"""The proof-of-coverage scenario carried by gossip over the in-memory network.

Issue #10's acceptance scenario (200 hotspots, 1,000 beacons, the real tile,
attackers) with every challenge and report published by its author's endpoint on
`MemoryNetwork` in virtual time and judged by a validator from what its gossip
callback decoded. With lossless links the verdicts must be the direct run's byte
for byte (`verify_epoch` does not depend on arrival order); with lossy links the
honest figure holds over what arrived; one seed gives one run.
"""

from __future__ import annotations

import dataclasses

import pytest
import trio
from poc_runs import acceptance_run, acceptance_scenario

from coverage_net.node import PocScenario, ScenarioResult, run_poc_scenario
from coverage_net.node.testing import memory_carrier
from coverage_net.p2p import TOPICS
from coverage_net.p2p.testing import MemoryNetwork, run_deterministic
from coverage_net.poc import verdicts_bytes


@pytest.fixture(scope="module")
def scenario(dem_dir) -> PocScenario:
    return acceptance_scenario(str(dem_dir), 1, model_aware=False)


@pytest.fixture(scope="module")
def direct(dem_dir) -> ScenarioResult:
    """The direct run test_poc_verify judges too (one run per session)."""
    return acceptance_run(str(dem_dir), 1, model_aware=False)


@pytest.fixture(scope="module")
def gossiped(scenario) -> ScenarioResult:
    return run_poc_scenario(scenario, carry=memory_carrier())


@pytest.fixture(scope="module")
def lossy(scenario) -> ScenarioResult:
    return run_poc_scenario(scenario, carry=memory_carrier(link_loss=0.01))


def test_lossless_gossip_gives_the_direct_verdicts_byte_for_byte(direct, gossiped):
    assert verdicts_bytes(gossiped.verdicts) == verdicts_bytes(direct.verdicts)
    assert gossiped.flagged_at_epoch == direct.flagged_at_epoch
    assert gossiped.honest_witness_acceptance() >= 0.99
    t = gossiped.transport
    assert t.transport == "memory" and t.lost == 0 and t.undecodable == 0
    assert t.published == t.delivered == direct.transport.published
    # every epoch judged a grace period after its end, in virtual time
    assert t.virtual_s >= direct.epochs * direct.params.epoch_length_ms / 1000
    assert t.link_transmissions >= t.published  # at least one hop each, relays on top


def test_lossy_links_lose_reports_but_not_the_honest_figure(direct, lossy):
    t = lossy.transport
    assert t.link_losses > 0 and t.lost > 0
    assert t.delivered + t.lost == t.published == direct.transport.published
    assert len(lossy.verdicts) < len(direct.verdicts)  # only what arrived is judged
    assert lossy.honest_witness_acceptance() >= 0.99  # over the witnesses that arrived


def test_same_seed_same_run(dem_dir):
    sc = PocScenario(dem_dir=str(dem_dir), hotspots=60, beacons=80, seed=3,
                     attackers={"ring": 2, "spoof_5km": 1})
    carry = memory_carrier(link_loss=0.05)
    first, again = run_poc_scenario(sc, carry=carry), run_poc_scenario(sc, carry=carry)
    assert verdicts_bytes(first.verdicts) == verdicts_bytes(again.verdicts)
    assert first.transport == again.transport
    assert first.transport.lost > 0
    other = run_poc_scenario(dataclasses.replace(sc, seed=4), carry=carry)
    assert other.transport != first.transport


def test_direct_transport_figures(direct):
    t = direct.transport
    assert t.transport == "direct" and t.lost == 0 and t.link_transmissions == 0
    assert t.delivered == t.published > len(direct.verdicts)


@pytest.mark.parametrize("loss", [1.0, -0.1, 2.0])
def test_bad_link_loss_is_refused(loss):
    with pytest.raises(ValueError, match="link_loss"):
        memory_carrier(link_loss=loss)


def test_gossip_is_not_sent_to_a_node_that_does_not_subscribe():
    """A publish-only node (a hotspot in the scenario) is neither sent nor relays gossip."""

    async def main() -> tuple[int, int, int]:
        hub = MemoryNetwork(7)
        publisher, relay, quiet = (hub.add_node(n) for n in ("publisher", "relay", "quiet"))
        hub.connect("publisher", "relay")
        hub.connect("relay", "quiet")
        got: list[bytes] = []
        relay.set_gossip_callback(lambda _s, _t, data: got.append(data) or True, TOPICS)
        async with trio.open_nursery() as nursery:
            await nursery.start(hub.run)
            await publisher.publish(TOPICS[0], b"report")
            await trio.sleep(1.0)
            nursery.cancel_scope.cancel()
        return len(got), hub.delivered, relay.gossip_forwarded

    assert run_deterministic(main, seed=7) == (1, 1, 0)


def test_the_verifier_counts_and_refuses_bytes_that_do_not_decode():
    from coverage_net.node.testing._poc_memnet import _Inbox

    inbox = _Inbox()
    assert inbox("hotspot-0", TOPICS[0], b"\xa1not a message") is False
    assert inbox.undecodable == 1
    assert inbox.take(0, b"\0" * 32).witness_reports == ()
