#!/bin/sh
# A fake useradd for simulated nodes: the user is recorded in the node's .sim/users (every
# user of a simulated node shares its sandbox home); this machine's /etc/passwd is untouched.
for last; do :; done
users="$HOME/.sim/users"
if grep -qx "$last" "$users" 2>/dev/null; then
    echo "useradd: user '$last' already exists" >&2
    exit 9
fi
echo "$last" >> "$users"
