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
# build the command as ./sockserve would when a source changed, but with -DskipTests rather than
# -Dmaven.test.skip (the command's module needs the core's test-jar in the reactor), then let
# ./sockserve see it as built
jar=$(ls "$root"/sockserve-cli/target/sockserve-cli-*.jar 2>/dev/null | head -n 1 || true)
if [ -z "$jar" ] || ! ls "$root"/sockserve-cli/target/lib/sockserve-core-*.jar >/dev/null 2>&1 ||
   [ -n "$(find "$root/pom.xml" "$root/sockserve-core/pom.xml" "$root/sockserve-core/src/main" \
       "$root/sockserve-cli/pom.xml" "$root/sockserve-cli/src/main" -newer "$jar" -print -quit 2>/dev/null)" ]; then
  echo "faults: building the command (mvn -q -pl sockserve-cli -am package -DskipTests)..." >&2
  (cd "$root" && mvn -q -B -Dstyle.color=never -pl sockserve-cli -am package -DskipTests 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >&2)
  touch "$(ls "$root"/sockserve-cli/target/sockserve-cli-*.jar | head -n 1)"
fi
"$root/sockserve" --version >/dev/null
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
