"""A private dockerd for the tests: own socket, data root and exec root under a temp dir.

No registry is reachable here, so the test image is made by importing a busybox-static
rootfs. Containers need network_mode="none" (the daemon runs with --bridge=none).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.harness.procs import stop, wait_for

DOCKERD = shutil.which("dockerd") or "/usr/sbin/dockerd"
BUSYBOX = shutil.which("busybox") or "/bin/busybox"
TEST_IMAGE = "fleetdeck-test/busybox:1"


def dockerd_available() -> str | None:
    if not os.path.exists(DOCKERD):
        return "dockerd is not installed (Debian package docker.io)"
    if not os.path.exists(BUSYBOX):
        return "busybox is not installed (Debian package busybox-static)"
    if os.geteuid() != 0:
        return "dockerd needs root"
    return None


def busybox_rootfs_tar() -> bytes:
    """A tar of a minimal rootfs: static busybox and its applet links."""
    applets = subprocess.run(
        [BUSYBOX, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "tmp", "etc", "proc", "sys", "dev"):
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, arcname="bin/busybox")
        for applet in applets:
            if applet == "busybox":
                continue
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        passwd = b"root:x:0:0:root:/root:/bin/sh\n"
        info = tarfile.TarInfo("etc/passwd")
        info.size = len(passwd)
        tar.addfile(info, io.BytesIO(passwd))
    return buf.getvalue()


@dataclass
class Dockerd:
    root: Path
    proc: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> None:
        for d in ("data", "exec"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        log = self.root / "dockerd.log"
        self.proc = subprocess.Popen(
            [
                DOCKERD,
                "--host",
                self.url,
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "pid"),
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--containerd-namespace",
                "fleetdeck-test",
                "--containerd-plugins-namespace",
                "fleetdeck-test-plugins",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(log, "ab"),  # noqa: SIM115
        )
        wait_for(self._answers, 60, "dockerd", self.proc, str(log))

    def _answers(self) -> bool:
        import docker

        if not self.socket.exists():
            return False
        try:
            client = docker.DockerClient(base_url=self.url, timeout=2)
            try:
                return client.ping()
            finally:
                client.close()
        except Exception:
            return False

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.url, timeout=30)

    def import_test_image(self) -> str:
        client = self.client()
        try:
            client.api.import_image_from_data(
                busybox_rootfs_tar(),
                repository=TEST_IMAGE.split(":")[0],
                tag=TEST_IMAGE.split(":")[1],
                changes=['CMD ["/bin/sh"]'],
            )
        finally:
            client.close()
        return TEST_IMAGE

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=20)
            self.proc = None
