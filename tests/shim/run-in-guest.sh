#!/usr/bin/env bash
# The shim's tests on one kernel (meson test 'shim module on Linux K in
# the test guest'): build the module against that kernel's headers with
# -Werror (tools/test-vm/build-shim.sh), boot the kernel in the test guest
# with the module in its module tree, and run shim-test there.  Passes only
# if the module built without a warning, every test passed (shim-test's
# "shim tests: N passed, 0 failed") and the guest kernel complained of
# nothing.
#
# usage: run-in-guest.sh KERNEL WORKDIR SHIM-TEST [TEST-NAME-FILTER]
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
tvm=$here/../../tools/test-vm
kernel=$1 work=$2 prog=$3
shift 3

rm -rf -- "$work"
"$tvm/build-shim.sh" "$kernel" "$work" || exit 1
out=$work/guest.out
rc=0
"$tvm/run.sh" --kernel "$kernel" --module "$work/gmemfs.ko" --timeout 480 \
	--workdir "$work/vm" -- "$prog" "$@" 2>&1 | tee "$out" || rc=$?
summary=$(grep -E '^shim tests: [0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
[[ -n $summary ]] || { echo "FAIL: no summary from shim-test in the guest"; exit 1; }
[[ $rc -eq 0 && $summary == *", 0 failed" ]] || { echo "FAIL: $summary (exit $rc)"; exit 1; }
echo "PASS: Linux $kernel: $summary"
