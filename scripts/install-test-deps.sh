#!/usr/bin/env bash
# Installs the outside programs the tests talk to (real clients and peers), when they are missing.
set -euo pipefail
need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v tcpserver >/dev/null 2>&1 || need+=(ucspi-tcp)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v openssl >/dev/null 2>&1 || need+=(openssl)     # TLS tests: s_client, and the test certificates
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)     # the PROXY protocol behind a real load balancer
command -v stunnel4 >/dev/null 2>&1 || need+=(stunnel4)   # forward's peer in the benchmark
command -v cc >/dev/null 2>&1 || need+=(gcc)              # the benchmark's native load generator
command -v systemd-socket-activate >/dev/null 2>&1 || need+=(systemd) # socket activation tests
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "the tests need: ${need[*]}; install them (Debian/Ubuntu: apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
# the --metrics test reads the exposition with Prometheus' own parser: the Debian package when the python3 on
# PATH is the system's, else pip (a pyenv or venv python3 does not see Debian's packages)
if ! python3 -c 'import prometheus_client' 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ] && [ "$(command -v python3)" = /usr/bin/python3 ] && apt-cache show python3-prometheus-client >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-prometheus-client >/dev/null
  else
    python3 -m pip install -q prometheus-client
  fi
fi
