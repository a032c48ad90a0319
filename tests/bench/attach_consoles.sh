#!/bin/bash
# Run: bash tests/bench/attach_consoles.sh (as root, tmux and ss installed; ~2 minutes)
# 100 simulated nodes, a watch, three real consoles attached under tmux: connections to the
# simulated hosts counted (ss) before and with the consoles, and each console's header read.
set -u
cd "$(dirname "$0")/../.."
R=$(mktemp -d /tmp/fd-attach-XXXX)
.venv/bin/python - "$R" <<'PY'
import sys; sys.path.insert(0, '.')
from tests.bench.bench_sim_scale import profile_text
open(sys.argv[1] + '/scale.toml', 'w').write(profile_text(100))
PY
.venv/bin/python -m console.app.cli sim up $R/scale.toml --dir $R/f > /dev/null
cp $R/f/profile.toml $R/w.toml
printf '\n[paging]\n[[paging.channels]]\nkind = "webhook"\nurl = "env:HOOK"\n' >> $R/w.toml
HOOK=http://127.0.0.1:9/x XDG_STATE_HOME=$R/st .venv/bin/python -m console.app.cli watch $R/w.toml > $R/watch.log 2>&1 &
WPID=$!
for i in $(seq 60); do grep -q watching $R/watch.log && break; sleep 1; done
ends=$(.venv/bin/python -c "
from console.core.profile import load
print(' '.join(f'{n.host}:{n.port}' for _, n in load('$R/w.toml').model.all_nodes()))")
count() { ss -Htn state established | awk '{print $NF}' | grep -cxF -f <(tr ' ' '\n' <<< "$ends"); }
echo "connections, the watch alone: $(count)"
for i in 1 2 3; do tmux -L a100 new-session -d -s c$i -x 160 -y 50 "XDG_STATE_HOME=$R/st .venv/bin/python -m console.app.cli $R/w.toml"; done
sleep 20
echo "connections, with three consoles attached: $(count)"
for i in 1 2 3; do echo "console $i: $(tmux -L a100 capture-pane -p -t c$i | sed -n 1,2p | tr -s ' ' | tr '\n' '|')"; done
.venv/bin/python -m console.app.cli sim fault $R/f c3-n4 host-down > /dev/null
sleep 12
for i in 1 2 3; do echo "console $i after a host down: $(tmux -L a100 capture-pane -p -t c$i | sed -n 2p | tr -s ' ')"; done
echo "status (attached): $(XDG_STATE_HOME=$R/st .venv/bin/python -m console.app.cli status $R/w.toml | head -1)"
echo "connections at the end: $(count)"
tmux -L a100 kill-server
kill $WPID; wait $WPID
.venv/bin/python -m console.app.cli sim down $R/f > /dev/null
rm -rf "$R"
