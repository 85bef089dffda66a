#!/usr/bin/env bash
# Shared by ./faults and ./soak: builds the command (through ./sockserve) and the fault suite's crash
# server, then runs the Python driver named by $1 with the remaining arguments.
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
. "$root/scripts/jdk.sh"
export JAVA_HOME
for tool in python3 prlimit; do
  command -v "$tool" >/dev/null || { echo "faults: $tool is needed (scripts/install-test-deps.sh)" >&2; exit 2; }
done
"$root/sockserve" --version >/dev/null        # builds the command when a source changed
classes="$root/reliability/target/classes"
if [ ! -f "$classes/CrashServer.class" ] || [ "$root/reliability/CrashServer.java" -nt "$classes/CrashServer.class" ] ||
   [ -n "$(find "$root/sockserve-cli/target/lib" -name 'sockserve-core-*.jar' -newer "$classes/CrashServer.class")" ]; then
  mkdir -p "$classes"
  "$JAVA_HOME/bin/javac" -p "$root/sockserve-cli/target/lib" --add-modules dev.sockserve -d "$classes" \
    "$root/reliability/CrashServer.java"
fi
driver=$1
shift
exec python3 -u "$root/reliability/$driver" "$@"
