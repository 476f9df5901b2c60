#!/usr/bin/env bash
# Installs what nblog needs to build, test and benchmark on Debian 12
# (rsyslog: the network console tests start their own on loopback, and
# rsyslog-gnutls its TLS driver for test-tls; libgnutls28-dev: syslog+tls://
# links GnuTLS; gnutls-bin: certtool, test-tls makes its certificates; groff:
# the api-docs test renders the manual pages; systemd: test-journald starts
# its own systemd-journald namespace instance; libdw-dev and
# libdebuginfod-dev: nblog symbolize reads DWARF, and asks debuginfod).
# Runs apt-get as root (directly, or through sudo when not root).
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config clang libclang-rt-14-dev \
  libcmocka-dev libspdlog-dev rsyslog rsyslog-gnutls libgnutls28-dev gnutls-bin \
  groff-base systemd libdw-dev libdebuginfod-dev >/dev/null
echo "setup-debian: packages installed"
