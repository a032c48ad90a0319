#!/bin/sh
# A simulated node keeps no journal (as many containers and minimal hosts): readers fall back
# to dmesg, as on such a host.
echo "No journal files were found." >&2
exit 1
