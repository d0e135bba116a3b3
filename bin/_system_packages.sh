# Sourced by bin/dev, bin/test and .ci/run with the Debian packages the command needs: installs the
# ones a fresh machine lacks (apt-get, as root or through sudo). Elsewhere it names what is missing
# and carries on, so a machine that has them some other way is not blocked.
_missing=()
for _pkg in "$@"; do
  dpkg -s "$_pkg" >/dev/null 2>&1 || _missing+=("$_pkg")
done
if [ ${#_missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    _sudo=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && _sudo="sudo"
    echo "Installing Debian packages: ${_missing[*]}" >&2
    $_sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq "${_missing[@]}" >/dev/null
  else
    echo "warning: these packages are missing and apt-get is not available: ${_missing[*]}" >&2
  fi
fi
unset _missing _pkg _sudo
