"""HTTP as a node sees it (its loopback, its containers' addresses), asked from the node
itself with python3 over the SSH connection the engine already has: nothing listens on the
node and nothing private is forwarded (python3 is always there: the probe needs it too)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from actions.engine import NodeContext, StepFailed
from console.core.text import printable, printable_tree


def note(ctx: NodeContext, text: str) -> None:
    if ctx.on_line:
        ctx.on_line("stdout", text)


# polls a URL from the node itself (python3 is always there: the probe needs it too)
URL_ANSWERS = (
    "import sys,time,urllib.request\n"
    "url,end=sys.argv[1],time.time()+float(sys.argv[2])\n"
    "while True:\n"
    "    try:\n"
    "        urllib.request.urlopen(url,timeout=3).read(); break\n"
    "    except Exception as e:\n"
    "        if time.time()>end: print('no answer:',e); sys.exit(1)\n"
    "        time.sleep(1)\n"
)


def url_answers(ctx: NodeContext, url: str, seconds: float = 0) -> tuple[bool, str]:
    """Whether `url` answers 2xx from the node within `seconds` (0: one try)."""
    out = ctx.run(
        f"python3 -c {shlex.quote(URL_ANSWERS)} {shlex.quote(url)} {seconds:g}",
        check=False,
        quiet=True,
    )
    return out.exit == 0, out.stdout.strip()


def wait_http(ctx: NodeContext, url: str, seconds: float, what: str) -> None:
    ok, said = url_answers(ctx, url, seconds)
    if not ok:
        raise StepFailed(f"{what} did not answer at {url} within {seconds:g} s: {said}")
    note(ctx, f"{what} answers at {url}")


def http_ok(ctx: NodeContext, url: str) -> bool:
    return url_answers(ctx, url)[0]


NODE_JSON = (
    "import json,sys,urllib.error,urllib.request\n"
    "url,method=sys.argv[1],sys.argv[2]\n"
    "body=sys.stdin.read().encode() or None\n"
    "req=urllib.request.Request(url,data=body,method=method,"
    "headers={'Content-Type':'application/json'})\n"
    "try:\n"
    "    r=urllib.request.urlopen(req,timeout=20); code,text=r.status,r.read()\n"
    "except urllib.error.HTTPError as e:\n"
    "    code,text=e.code,e.read()\n"
    "except Exception as e:\n"
    "    print(json.dumps({'error':str(e)})); sys.exit(0)\n"
    "print(json.dumps({'status':code,'body':text.decode(errors='replace')}))\n"
)


def node_json(
    ctx: NodeContext, url: str, body: Any = None, method: str | None = None
) -> tuple[int, Any]:
    """(HTTP status, JSON body or the text when not JSON) of `url` asked from the node;
    status 0 when nothing answered (the body then says why). A body travels on stdin. What
    the node says is made printable: it reaches terminals and screens."""
    verb = method or ("POST" if body is not None else "GET")
    out = ctx.run(
        f"python3 -c {shlex.quote(NODE_JSON)} {shlex.quote(url)} {verb}",
        stdin=json.dumps(body) if body is not None else "",
        quiet=True,
    )
    try:
        answer = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise StepFailed(f"no answer read from {url}: {out.stdout.strip()[:200]}") from None
    if "error" in answer:
        return 0, printable(str(answer["error"]))
    try:
        return answer["status"], printable_tree(json.loads(answer["body"]))
    except ValueError:
        return answer["status"], printable(answer["body"])
