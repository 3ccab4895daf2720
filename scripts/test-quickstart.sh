#!/usr/bin/env bash
# Runs the README's "Operate a fleet in five minutes" block as written, with
# the workspace's e4c2 and e4 (target/debug unless E4_BIN_DIR is given) on
# PATH, in a temporary directory; then checks what it should have done.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin="${E4_BIN_DIR:-${CARGO_TARGET_DIR:-$root/target}/debug}"
[ -x "$bin/e4c2" ] && [ -x "$bin/e4" ] || cargo build -p e4-c2 --bin e4c2 -p e4-client --bin e4

block=$(awk '/<!-- quickstart:begin -->/{on=1; next} /<!-- quickstart:end -->/{on=0} on' README.md |
        sed -e '/^```/d')
[ -n "$block" ] || { echo "FAIL: no quickstart block in README.md" >&2; exit 1; }

for port in 1883 5555 8888; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "FAIL: port $port is in use; the quickstart needs the default ports" >&2
    exit 1
  fi
done

work=$(mktemp -d)
pid=
# The block runs in its own process group: whatever it left running is
# stopped with it.
trap '[ -n "$pid" ] && kill -- "-$pid" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
echo "== README quickstart in $work"
env -u E4C2_DATA_DIR -u E4C2_TOKEN -u E4C2_SERVER PATH="$bin:$PATH" \
  setsid bash -euo pipefail -c "$block" > quickstart.out 2>&1 < /dev/null & pid=$!
if ! timeout 300 tail --pid="$pid" -f /dev/null || ! wait "$pid"; then
  cat quickstart.out; echo "--- c2.log"; cat fleet/c2.log 2>/dev/null || true
  echo "FAIL: the quickstart block failed" >&2; exit 1
fi
pid=

fail() { cat quickstart.out; echo "FAIL: $*" >&2; exit 1; }
grep -q 'protected message published on topic plant/temperature' quickstart.out ||
  fail "the sensor did not send"
grep -q '21.5 °C' fleet/display.log || fail "the display did not print the message"
grep -q -E '^sensor-1 ' quickstart.out || fail "sensor-1 is not listed as a member"
! grep -q -E '^display-1 ' quickstart.out || fail "display-1 is still listed as a member"
[ "$(stat -c %a fleet/sensor-1.json)" = 600 ] || fail "the provisioning file is not 0600"
! grep -q ERROR fleet/c2.log || fail "c2.log has ERROR lines: $(grep ERROR fleet/c2.log)"
echo "ok: quickstart (message delivered, display-1 removed, no ERROR in c2.log)"
