# Sourced by the launchers: finds a JDK 25 or newer and exports JAVA_HOME.
# Order: $JAVA_HOME, then `java` on the PATH, then the usual JVM folders.
java_feature() { # prints the feature version of the java at $1/bin/java, or nothing
  [ -x "$1/bin/java" ] || return 0
  local v
  # the JDK's release file says it without starting a JVM (which cost ./sockserve's start-up ~0.1-0.3 s)
  v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" 2>/dev/null | head -n 1)
  if [ -n "$v" ]; then
    echo "$v"
    return 0
  fi
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}
find_jdk25() {
  local candidates=() c v
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    c=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    candidates+=("$c")
  fi
  for c in /usr/lib/jvm/* /usr/local/lib/jvm/* /opt/java/* /opt/jdk* /Library/Java/JavaVirtualMachines/*/Contents/Home "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -d "$c" ] && candidates+=("$c")
  done
  for c in "${candidates[@]}"; do
    v=$(java_feature "$c")
    if [ -n "$v" ] && [ "$v" -ge 25 ] && [ -x "$c/bin/javac" ]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}
if ! JAVA_HOME=$(find_jdk25); then
  echo "sockserve needs a JDK 25 or newer (with javac), and none was found." >&2
  echo "Looked at \$JAVA_HOME, the java on the PATH, and /usr/lib/jvm, /opt/java, ~/.sdkman." >&2
  echo "Install one (for example Debian/Ubuntu: the Temurin 25 JDK from adoptium.net, or 'apt-get install openjdk-25-jdk')," >&2
  echo "then run again, or point JAVA_HOME at it." >&2
  exit 1
fi
export JAVA_HOME
# Maven 3.8 on JDK 25 warns about sun.misc.Unsafe in its own libraries (Maven's, not ours)
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
export PATH="$JAVA_HOME/bin:$PATH"
if ! command -v mvn >/dev/null 2>&1; then
  echo "sockserve builds with Apache Maven 3.8 or newer, and 'mvn' is not on the PATH (Debian/Ubuntu: apt-get install maven)." >&2
  exit 1
fi
