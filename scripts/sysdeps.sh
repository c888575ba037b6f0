#!/usr/bin/env bash
# Debian packages the tests and reports need on a fresh machine, installed only when missing:
#   chromium         the real browser the console's browser tests drive (never a downloaded one)
#   fonts-noto-cjk   the CJK font the PDF reports and their charts are set in
#   poppler-utils    pdftotext, with which the tests read the reports' PDFs back
#   default-jre-headless  Java 17+, for Spark in local mode (the parity suite, `--engine spark`)
set -euo pipefail

missing=()
command -v chromium >/dev/null || missing+=(chromium)
fc-list ':lang=zh' 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then missing+=(default-jre-headless); fi
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
