#!/bin/bash
# virtio-net under Debian's kernel (virtio_net module) on TAP devices.
# A peer network namespace, kvmmtest-peer (10.77.0.1), reaches the guest
# (10.77.0.2) through a veth pair and a bridge that also holds the guest's
# TAP.  The guest pings the peer, receives and sends a few MiB over TCP
# (busybox nc; the peer is a small Python script), and the byte counts and
# checksums must match.  A second NIC on a TAP kvmm creates itself checks
# the default MAC.  The device counters (printed at exit with
# KVMM_LOG=info) must show batching: RX frames per batch above one, and
# fewer interrupts than frames; and TX completion interrupts moderated:
# fewer than TX batches, some found unneeded at their deadline; and while
# the guest sends, the ACKs it gets back held to share an interrupt.
# Prints "PASS name" / "FAIL name: reason" per test.
#
# KVMM_NET_QEMU=1 also runs the same guest script under QEMU
# (-netdev tap, vhost off) and prints both transfer rates.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/guest/lib.sh

# The namespace, bridge and TAPs need root and a kernel with tun, veth and
# bridge: where this host's KVM cannot boot Linux, all of it runs inside
# the test host VM.
if ! scripts/host-kvm-ok.sh; then
    exec scripts/testhost.sh --timeout 900 -- bash tests/guest/net.sh
fi

KVMM=$KVMM_ROOT/build/kvmm
OUT=$(mktemp -d /tmp/kvmm-net.XXXXXX)
BOOT_TIMEOUT=${KVMM_BOOT_TIMEOUT:-300}
KERNEL=$GUEST_DIR/vmlinuz-cloud
INITRD=$GUEST_DIR/initramfs-cloud.cpio.gz
NS=kvmmtest-peer
BR=kvmmbr0
TAP=kvmmtap0            # made here, persistent; kvmm opens it
TAP_NEW=kvmmtap1        # kvmm creates it
VETH=kvmmveth0
PEER_IP=10.77.0.1
GUEST_IP=10.77.0.2
MAC0=52:54:00:77:00:02
MIB=${KVMM_NET_MIB:-4}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

net_teardown() {
    ip netns del "$NS" 2>/dev/null
    ip link del "$VETH" 2>/dev/null
    ip link del "$TAP" 2>/dev/null
    ip link del "$TAP_NEW" 2>/dev/null
    ip link del "$BR" 2>/dev/null
}
trap 'net_teardown; rm -rf "$OUT"' EXIT

counter() {
    awk -v n="$2" '$(NF-1) == n { print $NF; exit }' "$1"
}

setup_network() {
    local m
    for m in tun veth bridge; do
        [ -d "/sys/module/$m" ] || modprobe "$m" || return 1
    done
    [ -c /dev/net/tun ] || return 1
    net_teardown    # leftovers of an interrupted run
    ip netns add "$NS" &&
    ip link add "$BR" type bridge &&
    ip link set "$BR" up &&
    ip tuntap add dev "$TAP" mode tap vnet_hdr &&
    ip link set "$TAP" master "$BR" up &&
    ip link add "$VETH" type veth peer name eth0 netns "$NS" &&
    ip link set "$VETH" master "$BR" up &&
    ip -n "$NS" link set lo up &&
    ip -n "$NS" addr add "$PEER_IP/24" dev eth0 &&
    ip -n "$NS" link set eth0 up
}

# The peer: receives one connection on :5001 to EOF, and sends $MIB MiB to
# the guest's :5002 once it listens.  Reports bytes, md5 and MB/s.
write_peer() {
    cat >"$OUT/peer.py" <<'PY'
import hashlib, socket, sys, threading, time

peer_ip, guest_ip, data_path, report = sys.argv[1:5]
lines = []

def serve():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((peer_ip, 5001))
    s.listen(1)
    c, _ = s.accept()
    h, n, t0 = hashlib.md5(), 0, time.time()
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    dt = time.time() - t0
    c.close()
    lines.append("PEER_RX_BYTES=%d\nPEER_RX_MD5=%s\nPEER_RX_MBPS=%.2f" % (n, h.hexdigest(), n / dt / 1e6))

def send():
    data = open(data_path, "rb").read()
    deadline = time.time() + 600
    while True:
        try:
            c = socket.create_connection((guest_ip, 5002), timeout=5)
            break
        except OSError:
            if time.time() > deadline:
                lines.append("PEER_TX_ERROR=connect")
                return
            time.sleep(0.5)
    t0 = time.time()
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)
    while c.recv(4096):
        pass
    dt = time.time() - t0
    c.close()
    lines.append("PEER_TX_MBPS=%.2f" % (len(data) / dt / 1e6))

threads = [threading.Thread(target=serve, daemon=True), threading.Thread(target=send, daemon=True)]
for t in threads:
    t.start()
for t in threads:
    t.join()
open(report, "w").write("\n".join(lines) + "\n")
PY
}

# What the guest runs: eth0 up, ping, receive then send over TCP.
guest_script() {
    cat <<EOF
ip link set lo up
ip link set eth0 up && ip addr add $GUEST_IP/24 dev eth0
echo "MAC0=\$(cat /sys/class/net/eth0/address)"
echo "MAC1=\$(cat /sys/class/net/eth1/address 2>/dev/null)"
echo "FEATURES=\$(cat /sys/class/net/eth0/device/features)"
ping -c 5 -W 5 $PEER_IP >/tmp/ping.txt 2>&1; echo "PING_RC=\$?"
grep -E 'transmitted|round-trip' /tmp/ping.txt
mkfifo /tmp/hold
nc -l -p 5002 </tmp/hold >/tmp/rx.bin &
ncpid=\$!
exec 3>/tmp/hold
wait \$ncpid
exec 3>&-
echo "RX_BYTES=\$(wc -c </tmp/rx.bin)"
echo "RX_MD5=\$(md5sum </tmp/rx.bin | cut -d' ' -f1)"
dd if=/dev/urandom of=/tmp/tx.bin bs=64k count=$((MIB * 16)) 2>/dev/null
echo "TX_MD5=\$(md5sum </tmp/tx.bin | cut -d' ' -f1)"
nc $PEER_IP 5001 </tmp/tx.bin; echo "TX_NC_RC=\$?"
EOF
}

# run_transfer LOG VMM-ARGS...: the peer and one guest run.
run_transfer() {
    local log=$1 rc=0 ppid; shift
    rm -f "$OUT/peer.txt"
    ip netns exec "$NS" /usr/bin/python3 "$OUT/peer.py" "$PEER_IP" "$GUEST_IP" \
        "$OUT/to-guest.bin" "$OUT/peer.txt" &
    ppid=$!
    KVMM_LOG=info run_guest "$BOOT_TIMEOUT" "$log" -- "$@" || rc=$?
    sleep 1
    kill "$ppid" 2>/dev/null
    wait "$ppid" 2>/dev/null
    [ -f "$OUT/peer.txt" ] && cat "$OUT/peer.txt" >>"$log"
    return "$rc"
}

check_transfer() {
    local log=$1 rc=$2 want got
    if [ "$rc" != 0 ] || ! grep -q '^KVMM-CMD-EXIT=0' "$log"; then
        fail net-boot "status $rc"; tail -n 30 "$log" >&2; return 1
    fi
    [ "$(marker_value "$log" PING_RC)" = 0 ] && pass net-ping-peer ||
        fail net-ping-peer "ping status '$(marker_value "$log" PING_RC)': $(grep transmitted "$log")"
    want=$(md5sum <"$OUT/to-guest.bin" | cut -d' ' -f1)
    got=$(marker_value "$log" RX_MD5)
    if [ "$got" = "$want" ] && [ "$(marker_value "$log" RX_BYTES)" = $((MIB << 20)) ]; then
        pass net-tcp-peer-to-guest
    else
        fail net-tcp-peer-to-guest "guest got $(marker_value "$log" RX_BYTES) bytes, md5 '$got', sent md5 '$want'"
    fi
    got=$(marker_value "$log" PEER_RX_MD5)
    if [ -n "$got" ] && [ "$got" = "$(marker_value "$log" TX_MD5)" ] &&
       [ "$(marker_value "$log" PEER_RX_BYTES)" = $((MIB << 20)) ]; then
        pass net-tcp-guest-to-peer
    else
        fail net-tcp-guest-to-peer "peer got $(marker_value "$log" PEER_RX_BYTES) bytes, md5 '$got', guest md5 '$(marker_value "$log" TX_MD5)'"
    fi
}

test_kvmm() {
    local log=$OUT/kvmm.log rc=0 mac1 feat rxp rxb irq txp txb txi txs holds
    run_transfer "$log" "$KVMM" run --name nettest --kernel "$KERNEL" --initrd "$INITRD" \
        --memory 512 --cpus 2 --net "tap=$TAP,mac=$MAC0" --net "tap=$TAP_NEW" \
        --cmdline "console=ttyS0 quiet kvmm.test=script $(guest_script_arg "$(guest_script)")" || rc=$?
    check_transfer "$log" "$rc" || return
    mac1=$(sed -n "s/.*net1: TAP $TAP_NEW (created), MAC \([0-9a-f:]*\).*/\1/p" "$log")
    if [ "$(marker_value "$log" MAC0)" = "$MAC0" ] && [ -n "$mac1" ] &&
       [ "$(marker_value "$log" MAC1)" = "$mac1" ]; then
        pass net-mac-config-and-default
    else
        fail net-mac-config-and-default "guest eth0 '$(marker_value "$log" MAC0)' (want $MAC0), eth1 '$(marker_value "$log" MAC1)' (kvmm chose '$mac1')"
    fi
    if ip link show "$TAP" >/dev/null 2>&1 && ! ip link show "$TAP_NEW" >/dev/null 2>&1; then
        pass net-tap-lifetime
    else
        fail net-tap-lifetime "the TAP kvmm created must go with it, the given one must stay"
    fi
    # features bits: 1 GUEST_CSUM, 7 GUEST_TSO4, 11 HOST_TSO4, 15 MRG_RXBUF, 16 STATUS
    feat=$(marker_value "$log" FEATURES)
    if [ "${feat:1:1}${feat:7:1}${feat:11:1}${feat:15:1}${feat:16:1}" = 11111 ]; then
        pass net-offloads-negotiated
    else
        fail net-offloads-negotiated "guest features '$feat'"
    fi
    rxp=$(counter "$log" net0.rx_packets); rxb=$(counter "$log" net0.rx_batches)
    txp=$(counter "$log" net0.tx_packets); irq=$(counter "$log" net0.interrupts)
    echo "virtio-net: rx_packets=$rxp rx_batches=$rxb rx_max_batch=$(counter "$log" net0.rx_max_batch)" \
         "tx_packets=$txp tx_batches=$(counter "$log" net0.tx_batches) interrupts=$irq" \
         "rx_interrupts=$(counter "$log" net0.rx_interrupts) tx_interrupts=$(counter "$log" net0.tx_interrupts)" \
         "kicks=$(counter "$log" net0.kicks) rx_no_buffers=$(counter "$log" net0.rx_no_buffers)" \
         "drops=$(counter "$log" net0.rx_drops)/$(counter "$log" net0.tx_drops) errors=$(counter "$log" net0.errors)" \
         "irq_delayed=$(counter "$log" net0.rx_irq_delayed)/$(counter "$log" net0.tx_irq_delayed)" \
         "irq_saved=$(counter "$log" net0.rx_irq_saved)/$(counter "$log" net0.tx_irq_saved)" >&2
    echo "kvmm: peer->guest $(marker_value "$log" PEER_TX_MBPS) MB/s, guest->peer $(marker_value "$log" PEER_RX_MBPS) MB/s" >&2
    if [ -n "$rxp" ] && [ -n "$rxb" ] && [ -n "$irq" ] && [ -n "$txp" ] &&
       [ "$rxp" -gt "$rxb" ] && [ "$irq" -lt $((rxp + txp)) ]; then
        pass net-batches-and-interrupts
    else
        fail net-batches-and-interrupts "rx_packets '$rxp', rx_batches '$rxb', tx_packets '$txp', interrupts '$irq'"
    fi
    # The guest frees sent buffers as it goes: most TX completion interrupts
    # wait and turn out not to be needed.
    txb=$(counter "$log" net0.tx_batches); txi=$(counter "$log" net0.tx_interrupts)
    txs=$(counter "$log" net0.tx_irq_saved)
    if [ -n "$txb" ] && [ -n "$txi" ] && [ -n "$txs" ] && [ "$txs" -gt 0 ] && [ "$txi" -lt "$txb" ]; then
        pass net-tx-interrupts-moderated
    else
        fail net-tx-interrupts-moderated "tx_batches '$txb', tx_interrupts '$txi', tx_irq_saved '$txs'"
    fi
    # While the guest sends, the ACKs coming back wait to share an interrupt.
    holds=$(counter "$log" net0.rx_ack_holds)
    if [ -n "$holds" ] && [ "$holds" -gt 0 ]; then
        pass net-ack-interrupts-held
    else
        fail net-ack-interrupts-held "rx_ack_holds '$holds'"
    fi
}

# The same guest under QEMU with its TAP back end, for the rates only.
test_qemu() {
    local log=$OUT/qemu.log rc=0
    run_transfer "$log" qemu-system-x86_64 -accel kvm -M q35 -cpu host -smp 2 -m 512 \
        -display none -nodefaults -no-reboot -serial stdio -monitor none -kernel "$KERNEL" -initrd "$INITRD" \
        -netdev "tap,id=n0,ifname=$TAP,script=no,downscript=no,vhost=off" \
        -device "virtio-net-pci,netdev=n0,mac=$MAC0" \
        -append "console=ttyS0 quiet kvmm.test=script $(guest_script_arg "$(guest_script)")" || rc=$?
    echo "qemu: peer->guest $(marker_value "$log" PEER_TX_MBPS) MB/s, guest->peer $(marker_value "$log" PEER_RX_MBPS) MB/s" >&2
    if [ "$(marker_value "$log" RX_MD5)" != "$(md5sum <"$OUT/to-guest.bin" | cut -d' ' -f1)" ]; then
        echo "qemu: the transfer did not complete (status $rc); its log ends:" >&2
        tail -n 20 "$log" | sed 's/^/  | /' >&2
    fi
}

if ! setup_network; then
    fail net-setup "cannot create the namespace, bridge, veth and TAP (tun/veth/bridge modules?)"
    exit 0
fi
write_peer
dd if=/dev/urandom of="$OUT/to-guest.bin" bs=1M count="$MIB" status=none
test_kvmm
[ "${KVMM_NET_QEMU:-0}" = 0 ] || test_qemu
