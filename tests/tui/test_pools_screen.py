"""The palette's "Kubernetes node pools": read from the fake API server in a worker, shown
pool by pool with the NotReady and cordoned nodes, the API's words never read as markup."""

from __future__ import annotations

from console.app.tui import FleetdeckApp
from console.core.profile import loads
from screens.pools import PoolsScreen
from tests.harness.kubeapi import FakeKubeApi, gke_node
from tests.harness.pilot import drawn, on
from tests.tui.states import healthy, state_of


async def test_the_palette_opens_the_pools_of_the_profiles_kubernetes_source(tmp_path):
    nodes = [gke_node(f"gke-a3-{i}", "a3-high", 8, "nvidia-h100-80gb") for i in range(3)]
    nodes.append(gke_node("gke-a3-[bold]x[/]", "a3-high", 8, "nvidia-h100-80gb", ready="False"))
    api = FakeKubeApi("tok", nodes).start()
    try:
        config = tmp_path / "kubeconfig"
        config.write_text(api.kubeconfig())
        profile = loads(
            '[fleet]\nname = "gke-fleet"\nstack = "vllm"\n'
            f'[[sources]]\nname = "gke-us"\nkind = "kubernetes"\nkubeconfig = "{config}"\n'
            '[[clusters]]\nname = "us"\n[[clusters.nodes]]\nname = "v1"\nhost = "10.0.0.1"\n'
            'role = "server"\nmodel = "m"\n[models.m]\n',
            str(tmp_path / "gke.toml"),
        )
        state = state_of(profile.model, healthy(profile.model))
        app = FleetdeckApp(profile, live=False, source=lambda: state)
        async with app.run_test(size=(120, 30)) as pilot:
            await drawn(pilot)
            [entry] = [c for c in app.get_system_commands(app.screen) if "pools" in c.title]
            assert entry.title == "Kubernetes node pools"
            entry.callback()
            await on(pilot, PoolsScreen)  # the worker reads the API server first
            shown = str(app.screen.query_one("#pools").render())
            assert "gke-us (context gke_proj_us-central1_fleet): 1 pools, 4 nodes" in shown
            assert "a3-high" in shown and "32/32" in shown
            assert "✕ gke-a3-[bold]x[/]  NotReady: NodeStatusUnknown" in shown  # literal
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, PoolsScreen)
    finally:
        api.stop()
