#!/usr/bin/env bash
# Installs Debian's chromium and a CJK font for the browser tests (never `playwright install`).
set -euo pipefail
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qiE 'wqy|noto sans cjk'; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "install-browser: need root to apt-get install chromium fonts-wqy-microhei" >&2; exit 1; fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -q chromium fonts-wqy-microhei >/dev/null 2>&1 || {
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q chromium fonts-wqy-microhei >/dev/null
}
echo "install-browser: chromium and fonts-wqy-microhei installed"
