#!/usr/bin/env bash
# Debian packages the tests need: Chromium (report and web page tests), Tesseract with Korean (OCR),
# Nanum fonts (Korean PDFs made by the tests), poppler-utils (PDF checks), wamerican (the English word list of
# the fidelity policy and LCB's WPR, /usr/share/dict/words).
# Installs only what is missing; as a non-root user it says what to install instead.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
{ command -v tesseract >/dev/null 2>&1 && tesseract --list-langs 2>/dev/null | grep -qx kor; } || need+=(tesseract-ocr-kor)
[ -f /usr/share/fonts/truetype/nanum/NanumGothic.ttf ] || need+=(fonts-nanum)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
[ -f /usr/share/dict/american-english ] || need+=(wamerican)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
