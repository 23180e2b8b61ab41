#!/usr/bin/env bash
# Installs the Autobahn|Testsuite's `wstest` under PREFIX, without Docker and without changing
# anything outside PREFIX (uninstall = delete PREFIX). Prints the path of the wstest wrapper.
#
#   autobahn/install.sh [PREFIX]      (default: <repo>/target/autobahn-env)
#
# wstest is Python 2.7 code. Debian bookworm has no Python 2, but its previous release, bullseye,
# served by the same Debian mirror, has CPython 2.7.18, so:
#   1. download bullseye's python2.7 packages with apt-get (with private sources, lists and cache:
#      the system's own are left alone) and unpack them with dpkg -x into PREFIX/py27;
#   2. create a virtualenv with virtualenv 16.7.12, the last release that runs on Python 2.7 and
#      bundles a pip that does;
#   3. pip-install autobahntestsuite 25.10.1 with every dependency pinned (constraints.txt);
#   4. write PREFIX/bin/wstest, a wrapper that points the relocated interpreter at its libraries;
#   5. self-test: the suite's own fuzzing server and testee client, a few cases, on 127.0.0.1.
# Needs: bash, apt-get and dpkg (Debian), python3 with pip, a C compiler, ss. Re-runs return at
# once unless this script or constraints.txt changed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
# shellcheck source=lib.sh
source "$here/lib.sh"

suite_version=25.10.1
virtualenv_version=16.7.12
# CPython 2.7 and the shared libraries that its _ssl, _hashlib and _ctypes modules load; the -dev
# package provides the headers that the suite's C extensions (wsaccel, Twisted) compile against.
py27_packages=(python2.7 python2.7-minimal libpython2.7-minimal libpython2.7-stdlib
  libpython2.7-dev libssl1.1 libffi7)
py27_suite=bullseye

prefix=${1:-$repo/target/autobahn-env}
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd) # absolute: it is baked into the virtualenv and the wrapper
wstest=$prefix/bin/wstest
stamp=$prefix/.installed

# Idempotence: the stamp holds a hash of the inputs that decide what gets installed.
fingerprint=$(cat "$here/install.sh" "$here/constraints.txt" | sha256sum | cut -d' ' -f1)
if [[ -x $wstest && -f $stamp && $(<"$stamp") == "$fingerprint" ]]; then
  echo "wstest is installed: $wstest"
  exit 0
fi

for tool in apt-get dpkg python3 cc ss sha256sum timeout; do
  command -v "$tool" >/dev/null || die "install.sh needs '$tool'"
done
python3 -m pip --version >/dev/null 2>&1 ||
  die "install.sh needs pip for python3 (Debian: apt-get install python3-pip)"

# Start from a clean slate, removing only what this script creates, and only in a directory that
# it created (the marker), so that a mistyped PREFIX such as /usr loses nothing.
marker=$prefix/.autobahn-env
if [[ ! -e $marker ]]; then
  [[ -z $(ls -A "$prefix") ]] || die "$prefix is not empty and was not made by install.sh; pick another PREFIX"
  touch "$marker"
fi
rm -rf "$stamp" "$prefix/apt" "$prefix/downloads" "$prefix/py27" "$prefix/virtualenv" \
  "$prefix/venv" "${prefix:?}/bin" "$prefix/selftest"

step "Python 2.7 from Debian $py27_suite, unpacked into $prefix/py27"

# The Debian mirror this machine's apt already uses: the URI of the repository that serves its own
# release (e.g. bookworm, not bookworm-security) with a `main` component. `--no-release-info` makes
# this work even when apt's lists are empty. AUTOBAHN_DEBIAN_MIRROR overrides it.
debian_mirrors() {
  if [[ -n ${AUTOBAHN_DEBIAN_MIRROR:-} ]]; then
    echo "$AUTOBAHN_DEBIAN_MIRROR"
    return
  fi
  local codename
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || die "cannot tell the Debian release from /etc/os-release"
  # shellcheck disable=SC2016 # $(...) are apt's format fields, not shell
  apt-get indextargets --no-release-info --format '$(RELEASE) $(COMPONENT) $(REPO_URI)' |
    awk -v release="$codename" '$1 == release && $2 == "main" && !seen[$3]++ { print $3 }'
}

aptdir=$prefix/apt
mkdir -p "$aptdir/parts" "$aptdir/lists/partial" "$aptdir/cache/archives/partial" "$prefix/downloads"
# A private source list, lists directory and cache: `apt-get update` here touches nothing of the
# system's apt state. APT::Sandbox::User=root: apt's usual download user (_apt) may not be
# allowed into PREFIX. Keep the system's apt.conf (proxies and such) and its keyrings, but not
# its update hooks (cache cleaners, appstream refreshes): they act on the system, not on PREFIX.
cat >"$aptdir/apt.conf" <<'EOF'
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
apt_options=(
  -c "$aptdir/apt.conf"
  -o "Dir::Etc::SourceList=$aptdir/sources.list"
  -o "Dir::Etc::SourceParts=$aptdir/parts"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache"
  -o "APT::Sandbox::User=root"
  -o "Acquire::Languages=none"
)
arch=$(dpkg --print-architecture)
mirror_ok=0
mirrors=$(debian_mirrors)
[[ -n $mirrors ]] || die "found no Debian mirror in the apt configuration; set AUTOBAHN_DEBIAN_MIRROR"
# Signatures are checked against Debian's archive keyring, so a repository that is not a Debian
# mirror fails `update` and we try the next one.
for mirror in $mirrors; do
  echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $py27_suite main" \
    >"$aptdir/sources.list"
  if apt-get "${apt_options[@]}" -qq update; then
    mirror_ok=1
    break
  fi
  echo "warning: cannot use $mirror for $py27_suite, trying the next mirror" >&2
done
((mirror_ok)) || die "apt-get update failed for $py27_suite on every mirror (${mirrors//$'\n'/ })"

(cd "$prefix/downloads" && apt-get "${apt_options[@]}" -q download "${py27_packages[@]}")
for deb in "$prefix"/downloads/*.deb; do
  dpkg -x "$deb" "$prefix/py27"
done
python2=$prefix/py27/usr/bin/python2.7
libdir=$(echo "$prefix"/py27/usr/lib/*-linux-gnu*) # e.g. x86_64-linux-gnu
[[ -x $python2 && -d $libdir ]] || die "unexpected layout under $prefix/py27"

# Everything below runs the private Python 2.7: keep the caller's Python 3 settings away from it.
unset PYTHONPATH PYTHONHOME
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
"$python2" -c 'import ssl, hashlib, ctypes, zlib' || die "the unpacked Python 2.7 is incomplete"

step "virtualenv $virtualenv_version (pip for Python 2.7) in $prefix/venv"
python3 -m pip download -q --no-deps --only-binary=:all: -d "$prefix/downloads" \
  "virtualenv==$virtualenv_version"
python3 -m zipfile -e "$prefix/downloads/virtualenv-$virtualenv_version-py2.py3-none-any.whl" \
  "$prefix/virtualenv"
# --no-download: use the pip/setuptools/wheel bundled with virtualenv (the last 2.7-capable ones).
"$python2" "$prefix/virtualenv/virtualenv.py" -q --no-download "$prefix/venv"

step "autobahntestsuite $suite_version"
# Debian's Python 2.7 looks for its headers under /usr/include; point the compiler at ours.
export C_INCLUDE_PATH="$prefix/py27/usr/include/python2.7:$prefix/py27/usr/include${C_INCLUDE_PATH:+:$C_INCLUDE_PATH}"
# --no-build-isolation: build sdists (wsaccel, Twisted) with the pinned setuptools in the venv
# instead of fetching the newest, unpinned build tools. --only-binary for the suite itself: its
# sdist declares no dependencies, its wheel pins them.
"$prefix/venv/bin/python" -m pip install -q --no-build-isolation \
  -c "$here/constraints.txt" --only-binary=autobahntestsuite "autobahntestsuite==$suite_version"

mkdir -p "$prefix/bin"
cat >"$wstest" <<EOF
#!/usr/bin/env bash
# Written by autobahn/install.sh: runs wstest on the private Python 2.7 under $prefix.
unset PYTHONPATH PYTHONHOME
export LD_LIBRARY_PATH="$libdir\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$prefix/venv/bin/wstest" "\$@"
EOF
chmod +x "$wstest"

step "self-test: wstest's fuzzing server against its own testee client on 127.0.0.1"
# Checks that the suite runs, can bind and talk over loopback, and writes reports that check.py reads.
selftest=$prefix/selftest
mkdir -p "$selftest"
trap stop_background_processes EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
selftest_cases='["1.1.1", "1.1.8", "2.4", "3.1", "5.6", "6.2.3", "7.1.1"]'
started=0
for attempt in 1 2 3; do
  port=$(random_port)
  cat >"$selftest/fuzzingserver.json" <<EOF
{"url": "ws://127.0.0.1:$port", "outdir": "$selftest/reports", "cases": $selftest_cases}
EOF
  (cd "$selftest" && exec "$wstest" -m fuzzingserver -s fuzzingserver.json -u 0) \
    >"$selftest/fuzzingserver.log" 2>&1 &
  server_pid=$!
  background_pids+=("$server_pid")
  if wait_for 60 "$server_pid" pid_owns_port "$port" "$server_pid"; then
    started=1
    break
  fi
  # Retry on another port only if it exited (someone may have taken the port); not if it hangs.
  is_alive "$server_pid" && break
  echo "fuzzingserver exited without listening on port $port (attempt $attempt)" >&2
  stop_pid "$server_pid"
done
if ((!started)); then
  show_log "$selftest/fuzzingserver.log"
  die "self-test: wstest -m fuzzingserver did not start"
fi
if ! run_bounded 120 "$wstest" -m testeeclient -w "ws://127.0.0.1:$port" \
  >"$selftest/testeeclient.log" 2>&1; then
  show_log "$selftest/testeeclient.log"
  die "self-test: wstest -m testeeclient failed"
fi
stop_background_processes
if ! python3 "$here/check.py" --quiet --expect 7 --run self-test "$selftest/reports" -; then
  show_log "$selftest/fuzzingserver.log"
  die "self-test: the report does not show the expected results"
fi

echo "$fingerprint" >"$stamp"
echo
echo "wstest is installed: $wstest"
