"""A local stand-in for the gonka repository: `deploy/join/` as the real one lays it out.

The deploy clones the profile's `[stack] repo` at its pinned `ref`. No network reaches
GitHub here, so the simulated fleet offers a git repository of its own with the same
layout: docker-compose.yml (tmkms, node, api, bridge, proxy), docker-compose.mlnode.yml
(mlnode-308, inference), config.env.template and node-config.json, the services, images
and published ports following reference/protocols.md §1.1.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from console.sim.containers import GONKA_TAG, SERVICES

TAG = "v0.2.14-sim"
# an older release the repository also carries: hosts still on it stay readable, and a
# deploy can move a fleet from it to TAG
OLD_TAGS = {"v0.2.9-sim": "0.2.9-post2"}


def _image(service: str, release: str = GONKA_TAG) -> str:
    image = SERVICES[service][0]
    return image.replace(f":{GONKA_TAG}", f":{release}")


def _versiond(release: str) -> str:
    """The versiond service, in the releases that have it (0.2.12 and later)."""
    if release in OLD_TAGS.values():
        return ""
    return f"""  versiond:
    container_name: versiond
    image: {_image("versiond", release)}
    environment:
      - VERSIOND_ORACLE_URL=http://api:9100/versions
      - KEY_NAME=${{KEY_NAME}}
      - KEYRING_PASSWORD=${{KEYRING_PASSWORD}}
    depends_on:
      - api

"""


def compose(release: str = GONKA_TAG) -> str:
    """docker-compose.yml of deploy/join at a release (its images' tag)."""
    return f"""services:
  tmkms:
    image: {_image("tmkms", release)}
    container_name: tmkms
    restart: unless-stopped
    volumes:
      - .tmkms:/root/.tmkms

  node:
    container_name: node
    image: {_image("node", release)}
    command: ["sh", "./init-docker.sh"]
    volumes:
      - .inference:/root/.inference
    ports:
      - "5000:26656" #p2p
    depends_on:
      - tmkms

  api:
    container_name: api
    image: {_image("api", release)}
    volumes:
      - .inference:/root/.inference
      - .dapi:/root/.dapi
      - ${{NODE_CONFIG:-./node-config.json}}:/root/node_config.json
    environment:
      - KEY_NAME=${{KEY_NAME}}
      - KEYRING_PASSWORD=${{KEYRING_PASSWORD}}
      - DAPI_API__PUBLIC_URL=${{PUBLIC_URL}}
      - DAPI_API__POC_CALLBACK_URL=${{DAPI_API__POC_CALLBACK_URL}}
      - DAPI_CHAIN_NODE__URL=${{DAPI_CHAIN_NODE__URL}}
    ports:
      - "9100:9100"
      - "127.0.0.1:9200:9200"
    depends_on:
      - node

{_versiond(release)}  bridge:
    container_name: bridge
    image: {_image("bridge", release)}

  proxy:
    container_name: proxy
    image: {_image("proxy", release)}
    ports:
      - "${{API_PORT:-8000}}:80"
      - "${{API_SSL_PORT:-8443}}:443"
    environment:
      - NGINX_MODE=${{NGINX_MODE:-http}}
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost/health"]
"""


COMPOSE = compose()

COMPOSE_MLNODE = f"""services:
  mlnode-308:
    container_name: mlnode-308
    image: {_image("mlnode-308")}
    command: uvicorn api.app:app --host=0.0.0.0 --port=8080
    volumes:
      - ${{HF_HOME}}:/root/.cache
    environment:
      - HF_HUB_OFFLINE=true
    deploy:
      resources:
        reservations:
          devices:
            - driver: nvidia
              count: all
              capabilities: [gpu]

  inference:
    container_name: inference
    image: {_image("inference")}
    ports:
      - "${{PORT:-8080}}:8080"
      - "${{INFERENCE_PORT:-5050}}:5000"
    depends_on:
      - mlnode-308
"""

CONFIG_TEMPLATE = """export KEY_NAME=<FILLIN>
export KEYRING_PASSWORD=<FILLIN>
export API_PORT=8000
export API_SSL_PORT=8443
export PUBLIC_URL=http://<HOST>:<PORT>
export P2P_EXTERNAL_ADDRESS=tcp://<HOST>:<PORT>
export ACCOUNT_PUBKEY=<ACCOUNT_PUBKEY_FROM_STEP_ABOVE>
export NODE_CONFIG=./node-config.json
export HF_HOME=/mnt/shared
export SEED_API_URL=http://node2.gonka.ai:8000
export SEED_NODE_RPC_URL=http://node2.gonka.ai:8000/chain-rpc/
export SEED_NODE_P2P_URL=tcp://node2.gonka.ai:5000
export DAPI_API__POC_CALLBACK_URL=http://api:9100
export DAPI_CHAIN_NODE__URL=http://node:26657
export DAPI_CHAIN_NODE__P2P_URL=http://node:26656
export RPC_SERVER_URL_1=http://node1.gonka.ai:8000/chain-rpc/
export RPC_SERVER_URL_2=http://node2.gonka.ai:8000/chain-rpc/
export PORT=8080
export INFERENCE_PORT=5050
export KEYRING_BACKEND=file
"""

NODE_CONFIG = """[
  {
    "id": "node1",
    "host": "inference",
    "inference_port": 5000,
    "poc_port": 8080,
    "max_concurrent": 500,
    "models": {
      "Qwen/Qwen3-32B-FP8": {"args": ["--tensor-parallel-size", "4"]}
    }
  }
]
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - fixed git arguments
        ["git", "-C", str(repo), "-c", "user.name=fleetdeck sim", "-c", "user.email=sim@invalid"]
        + list(args),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def make_gonka_repo(path: Path, tag: str = TAG) -> tuple[str, str]:
    """Create a git repository at `path` with deploy/join at tag `tag`; return (url, tag)."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / ".git").exists():
        _git(path, "init", "-q", "-b", "main")
    join = path / "deploy" / "join"
    join.mkdir(parents=True, exist_ok=True)
    for old, release in OLD_TAGS.items():
        if old != tag and not _git(path, "tag", "-l", old):
            _commit(path, join, old, compose(release))
    _commit(path, join, tag, COMPOSE)
    return f"file://{path.resolve()}", tag


def _commit(path: Path, join: Path, tag: str, compose_file: str) -> None:
    (join / "docker-compose.yml").write_text(compose_file)
    (join / "docker-compose.mlnode.yml").write_text(COMPOSE_MLNODE)
    (join / "config.env.template").write_text(CONFIG_TEMPLATE)
    (join / "node-config.json").write_text(NODE_CONFIG)
    (join / ".gitignore").write_text("config.env\n.inference/\n.dapi/\n.tmkms/\n")
    _git(path, "add", "-A")
    if _git(path, "status", "--porcelain"):
        _git(path, "commit", "-q", "-m", f"deploy/join for {tag}")
    if not _git(path, "tag", "-l", tag):
        _git(path, "tag", tag)
