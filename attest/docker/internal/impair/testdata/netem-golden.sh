#!/bin/sh
# Regenerates the netem-*.bin golden files: the TCA_OPTIONS that iproute2's
# tc sends for the same impairments, captured with strace. It needs root,
# tc, strace and python3, and works whether or not the kernel has sch_netem
# (tc sends the request either way). Run from this directory.
set -eu
ns=clstr-netem-golden-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
ip -n "$ns" link add v0 type veth peer name v1
capture() {
	out=$1
	shift
	ip netns exec "$ns" strace -e trace=sendmsg -xx -s 100000 -o "$out.strace" \
		tc qdisc replace dev v0 root netem "$@" 2>/dev/null || true
	extract "$out"
}
# capture_tc captures the TCA_OPTIONS of any tc command.
capture_tc() {
	out=$1
	shift
	ip netns exec "$ns" strace -e trace=sendmsg -xx -s 100000 -o "$out.strace" \
		tc "$@" 2>/dev/null || true
	extract "$out"
}
extract() {
	python3 - "$1" <<'PY'
import re, sys
s = open(sys.argv[1] + ".strace").read()
m = re.search(r'nla_type=TCA_OPTIONS\}, "((?:\\x[0-9a-f]{2})+)"', s)
open(sys.argv[1], "wb").write(bytes(int(h, 16) for h in re.findall(r'\\x([0-9a-f]{2})', m.group(1))))
PY
	rm "$1.strace"
}
# Correlations and reorder are always given, as clstr always sends them.
# Correlated loss is the loss state model with p13 = p(1-ρ) and
# p31 = (1-p)(1-ρ), the two-state chain of the shaper; reorder goes
# uncorrelated (netem's correlated reorder lowers the rate).
capture netem-delay.bin limit 10000 delay 50ms 0ms 0% reorder 0% 0%
capture netem-all.bin limit 10000 delay 100ms 20ms 25% distribution normal loss state 7.5% 67.5% 0% 0% 0% duplicate 5% reorder 25% 0%
capture netem-loss.bin limit 10000 delay 0ms 0ms 0% loss state 15% 60% 0% 0% 0% reorder 0% 0%
capture netem-loss-uncorrelated.bin limit 10000 delay 0ms 0ms 0% loss 20% 0% reorder 0% 0%
# Impairing some destinations only: the prio root qdisc with a fourth
# band, and a u32 filter that sends one destination to it.
capture_tc prio-bands4.bin qdisc add dev v0 root handle 1: prio bands 4
capture_tc u32-dst.bin filter add dev v0 parent 1: protocol ip prio 1 u32 match ip dst 10.0.42.103/32 flowid 1:4
