#!/bin/sh
# contrib/deps.sh -- install the Debian 12 packages wspubsub needs to build,
# run and test, and to build and check its Debian package (dpkg-dev,
# debhelper, lintian; man-db lets systemd-analyze verify find the man
# pages).  Run by "make deps" (and so by "make run").
#
# Only what is missing is installed, so running it again is cheap.  As root
# it runs "apt-get update" and "apt-get install -y"; otherwise it prints the
# command to run and exits 1.  The npm packages the tests use (the "ws"
# client, tests/integration/js/package-lock.json) come with "npm ci" when
# node and npm are there.
set -eu

# npm packages for the tests, if missing and npm is there.
npm_deps() {
	js=$(dirname "$0")/../tests/integration/js
	if [ -d "$js/node_modules/ws" ]; then
		echo "deps.sh: the tests' npm packages are installed."
	elif command -v npm >/dev/null 2>&1; then
		(cd "$js" && npm ci --no-audit --no-fund)
		echo "deps.sh: installed the tests' npm packages."
	else
		echo "deps.sh: no npm: the Node ws test will be skipped." >&2
	fi
}

PACKAGES="
	build-essential
	pkg-config
	clang
	valgrind
	libclang-rt-14-dev
	libssl-dev
	libhiredis-dev
	libbsd-dev
	libjansson-dev
	libcmocka-dev
	libseccomp-dev
	zlib1g-dev
	redis-server
	python3
	python3-pytest
	python3-websockets
	python3-redis
	chromium
	chromium-driver
	python3-selenium
	mandoc
	systemd
	openbsd-inetd
	haproxy
	dpkg-dev
	debhelper
	lintian
	man-db
"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: dpkg-query not found; this script is for Debian 12." >&2
	# shellcheck disable=SC2086  # print the list on one line
	echo "deps.sh: install the equivalents of:" $PACKAGES >&2
	exit 1
fi

missing=
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	case $status in
	ii*) ;;
	*) missing="$missing $pkg" ;;
	esac
done

if [ -z "$missing" ]; then
	echo "deps.sh: all build, run and test packages are installed."
	npm_deps
	exit 0
fi

echo "deps.sh: missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (or with sudo):" >&2
	echo "    apt-get update && apt-get install -y$missing" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086  # word splitting of the list is intended
apt-get install -y$missing
echo "deps.sh: installed:$missing"
npm_deps
