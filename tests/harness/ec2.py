"""EC2 for the provisioning tests: a real moto_server, and in front of it the part of a
cloud moto cannot play.

moto hands out invented public addresses and a fixed console output. The stand-in
between fleetdeck and moto gives each new machine one of the loopback addresses where a
real sshd stands in for it, prints that sshd's host keys into the console output the way
cloud-init does, and can refuse RunInstances the way EC2 does when a quota runs out.
Nothing here ever sends traffic off loopback.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.harness.procs import free_port, port_open, stop, wait_for

MOTO = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "moto_server"

# what EC2 answers when the account's limit for the instance family is reached
QUOTA_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InstanceLimitExceeded</Code><Message>You have requested more \
instances ({asked}) than your current instance limit of {limit} allows for the specified \
instance type. Please visit http://aws.amazon.com/contact-us/ec2-request to request an \
adjustment to this limit.</Message></Error></Errors>\
<RequestID>8f7724cf-496f-496e-8fe3-example</RequestID></Response>"""


# what EC2 answers a request signed with an access key it does not know
AUTH_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>AuthFailure</Code><Message>AWS was not able to validate the \
provided access credentials</Message></Error></Errors>\
<RequestID>0a1b2c3d-4e5f-6a7b-8c9d-example</RequestID></Response>"""


class MotoServer:
    def __init__(self, log: Path) -> None:
        self.port = free_port("127.0.0.1")
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        exe = str(MOTO) if MOTO.exists() else "moto_server"
        env = {**os.environ, "MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION": "true"}
        self.proc = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115
            env=env,
        )
        wait_for(lambda: port_open("127.0.0.1", self.port), 30, "moto_server", self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


def cloud_init_console(host_key_pub: str, hostname: str) -> str:
    """The console text cloud-init prints at first boot for a machine with this key."""
    kind, blob = host_key_pub.split()[:2]
    digest = hashlib.sha256(base64.b64decode(blob)).digest()
    fp = "SHA256:" + base64.b64encode(digest).decode().rstrip("=")
    label = {"ssh-ed25519": "ED25519", "ssh-rsa": "RSA"}.get(kind, "ECDSA")
    return (
        "[   12.345678] cloud-init[1012]: Cloud-init v. 24.1.3 running 'modules:final'\n"
        "ec2: #############################################################\n"
        "ec2: -----BEGIN SSH HOST KEY FINGERPRINTS-----\n"
        f"ec2: 256 {fp} root@{hostname} ({label})\n"
        "ec2: -----END SSH HOST KEY FINGERPRINTS-----\n"
        "ec2: #############################################################\n"
        "-----BEGIN SSH HOST KEY KEYS-----\n"
        f"{kind} {blob} root@{hostname}\n"
        "-----END SSH HOST KEY KEYS-----\n"
    )


class Ec2Stand:
    """An HTTP stand-in in front of moto_server (see the module's docstring)."""

    def __init__(self, moto_port: int, machines: dict[str, str]) -> None:
        # loopback address -> the host key of the sshd standing in for the machine there
        self.moto_port = moto_port
        self.machines = machines
        self.free = list(machines)
        self.address: dict[str, str] = {}  # moto's public IP -> loopback address
        self.instance_address: dict[str, str] = {}  # instance id -> loopback address
        self.run_instances_left: int | None = None  # None: no quota
        self.forged: set[str] = set()  # loopback addresses whose console lists another key
        self.blank: set[str] = set()  # loopback addresses whose console lists no key at all
        self.refused_key_ids: set[str] = set()  # access key ids EC2 answers AuthFailure
        self.calls: list[dict[str, str]] = []  # every request's parameters, in order
        self.headers: list[str] = []  # every request's header block
        self._lock = threading.Lock()
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                stand._handle(self)

            def do_POST(self) -> None:
                stand._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port("127.0.0.1")), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> Ec2Stand:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def actions(self, name: str) -> list[dict[str, str]]:
        return [c for c in self.calls if c.get("Action") == name]

    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        query = urlsplit(req.path).query
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if body and "x-www-form-urlencoded" in (req.headers.get("Content-Type") or ""):
            params |= {k: v[0] for k, v in parse_qs(body.decode()).items()}
        action = params.get("Action", "")
        with self._lock:
            self.calls.append(params)
            self.headers.append(str(req.headers))
            auth = req.headers.get("Authorization") or ""
            if any(f"Credential={key_id}/" in auth for key_id in self.refused_key_ids):
                self._send(req, 401, AUTH_ERROR.encode())
                return
            if action == "RunInstances" and self.run_instances_left is not None:
                if self.run_instances_left <= 0:
                    asked = len(self.actions("RunInstances"))
                    done = asked - 1
                    self._send(req, 400, QUOTA_ERROR.format(asked=asked, limit=done).encode())
                    return
                self.run_instances_left -= 1
        conn = http.client.HTTPConnection("127.0.0.1", self.moto_port, timeout=30)
        headers = {k: v for k, v in req.headers.items() if k.lower() != "content-length"}
        conn.request(req.command, req.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read().decode()
        conn.close()
        data = self._readdress(data)
        if action == "GetConsoleOutput":
            data = self._console(params.get("InstanceId", ""), data)
        self._send(req, resp.status, data.encode())

    def _readdress(self, data: str) -> str:
        with self._lock:
            for found in re.finditer(r"<instanceId>(i-[0-9a-f]+)</instanceId>", data):
                rest = data[found.end() :]
                nxt = rest.find("<instanceId>")
                item = rest if nxt < 0 else rest[:nxt]
                ip = re.search(r"<ipAddress>([\d.]+)</ipAddress>", item)
                if ip is None:
                    continue
                moto_ip = ip.group(1)
                if moto_ip not in self.address and self.free:
                    self.address[moto_ip] = self.free.pop(0)
                if moto_ip in self.address:
                    self.instance_address[found.group(1)] = self.address[moto_ip]
            for moto_ip, loop in self.address.items():
                data = data.replace(f">{moto_ip}<", f">{loop}<")
        return data

    def _console(self, instance: str, data: str) -> str:
        loop = self.instance_address.get(instance)
        if loop is None:
            return data
        if loop in self.blank:  # an image whose cloud-init prints no keys: moto's own text
            return data
        key = self.machines[loop]
        if loop in self.forged:  # another machine's key: what an attacker in between shows
            key = next(k for a, k in self.machines.items() if a != loop)
        text = cloud_init_console(key, "ip-" + loop.replace(".", "-"))
        encoded = base64.b64encode(text.encode()).decode()
        return re.sub(r"<output>.*?</output>", f"<output>{encoded}</output>", data, flags=re.S)

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, payload: bytes) -> None:
        req.send_response(status)
        req.send_header("Content-Type", "text/xml")
        req.send_header("Content-Length", str(len(payload)))
        req.end_headers()
        req.wfile.write(payload)
