"""The simulated node's own network, for every Python program run on a simulated node.

Installed as `sitecustomize.py` on the node's Python path (its python3 and its fake tools
import it at start). On the simulator that shares this machine, a node's "localhost" is not
this machine's 127.0.0.1: its services listen on the node's private loopback address, some
on a port the simulator had to move. So a connection to 127.0.0.1:PORT (what a deploy's
health wait or the probe opens on a real node) goes to that address and port here, as it
would reach the node's own loopback on a real host.

And a simulated node never reaches past loopback: any connect() outside 127.0.0.0/8 (or,
for a node in a network namespace of its own, the compose subnet on that namespace's
loopback) is refused, and recorded in `$FLEETDECK_CONNECT_LOG` (with every other connect)
when that is set, so a test can show that a whole deploy kept to this machine.

Standard library only, and cheap: it runs at every interpreter start on the node.
"""

import os
import sys

_NET = os.path.join(os.environ.get("HOME", "."), ".sim", "net")
_LOG = os.environ.get("FLEETDECK_CONNECT_LOG")
_LOCAL = ("127.0.0.1", "localhost")


def _read():
    """The node's .sim/net, written by the simulator: `private=ADDRESS` (its localhost),
    `local=NETWORK` (an address block on the node's own loopback: the compose subnet of a
    node in a network namespace of its own) and `PORT=BOUND` lines."""
    private, local, ports = None, [], {}
    try:
        with open(_NET) as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "private":
                    private = value
                elif key == "local":
                    import ipaddress  # only here: every start on the node pays an import

                    local.append(ipaddress.ip_network(value))
                elif key.isdigit() and value.isdigit():
                    ports[int(key)] = int(value)
    except (OSError, ValueError):
        pass
    return private, local, ports


def _mapping():
    private, _, ports = _read()
    return private, ports


def _destination(address):
    """The (host, port) a connect() to `address` really goes to on this node."""
    if not (isinstance(address, tuple) and len(address) >= 2 and address[0] in _LOCAL):
        return address
    private, ports = _mapping()
    if not private:
        return address
    return (private, ports.get(address[1], address[1])) + tuple(address[2:])


def _on_loopback(host):
    if host.startswith("127.") or host in ("::1", "localhost"):
        return True
    import ipaddress

    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in _read()[1])


def _audit(event, args):
    if event != "socket.connect":
        return
    sock, address = args
    if sock.family not in (_AF_INET, _AF_INET6):
        return
    host = str(address[0])
    allowed = _on_loopback(host)
    if _LOG:
        with open(_LOG, "a") as f:
            f.write(f"{os.getpid()} {'ok' if allowed else 'REFUSED'} {host} {address[1]}\n")
    if not allowed:
        raise OSError(101, f"simulated node: connect to {host} refused (outside 127.0.0.0/8)")


def _redirect(socket):
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex
    socket.socket.connect = lambda self, address: connect(self, _destination(address))
    socket.socket.connect_ex = lambda self, address: connect_ex(self, _destination(address))


class _OnSocketImport:
    """Redirects `socket` when a program first imports it: most of a node's tools never
    do, and importing it at every start cost each ~7 ms."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "socket":
            return None
        # the others' spec, with the redirect after its load; this finder stays until the
        # module is really loaded (a find_spec alone, as pkgutil makes, loads nothing)
        for finder in sys.meta_path:
            spec = None if finder is cls else finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _redirect(module)
            if cls in sys.meta_path:
                sys.meta_path.remove(cls)

        spec.loader.exec_module = exec_module
        return spec


_AF_INET, _AF_INET6 = 2, 10  # Linux's, as socket has them (not imported here: see above)
if "socket" in sys.modules:
    _redirect(sys.modules["socket"])
else:
    sys.meta_path.insert(0, _OnSocketImport)
sys.addaudithook(_audit)
