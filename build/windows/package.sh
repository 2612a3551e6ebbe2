#!/usr/bin/env bash
# Packs bin/HealthHub.exe into bin/HealthHub-$VERSION.msi with wixl. With
# SIGN_PFX (a PKCS#12 code-signing certificate) and SIGN_PASSWORD set, the
# binary is signed before it goes in and the MSI after; SIGN_TIMESTAMP_URL
# adds a timestamp (needs the network).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?VERSION is needed}" "${BIN:=bin}"

need() { command -v "$1" >/dev/null || missing+=("$2"); }
missing=()
need wixl wixl
need msiinfo msitools
need osslsigncode osslsigncode
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

sign() { # in out description
  local args=(sign -pkcs12 "$SIGN_PFX" -pass "${SIGN_PASSWORD:-}" -n "$3" -i https://healthhub.example -h sha256)
  [ -n "${SIGN_TIMESTAMP_URL:-}" ] && args+=(-ts "$SIGN_TIMESTAMP_URL")
  osslsigncode "${args[@]}" -in "$1" -out "$2" >/dev/null
}

exe="$BIN/HealthHub.exe"
msi="$BIN/HealthHub-$VERSION.msi"
staged="$BIN/msi-stage"
rm -rf "$staged" "$msi" && mkdir -p "$staged"
if [ -n "${SIGN_PFX:-}" ]; then
  sign "$exe" "$staged/HealthHub.exe" "HealthHub"
else
  echo "SIGN_PFX is not set: the installer is not signed" >&2
  cp "$exe" "$staged/HealthHub.exe"
fi
# MSI versions are major.minor.build; a pre-release suffix is dropped.
wixl -a x64 -D Version="${VERSION%%-*}" -D ExePath="$staged/HealthHub.exe" -D IconPath=build/windows/icon.ico \
  -o "$staged/unsigned.msi" build/windows/HealthHub.wxs
if [ -n "${SIGN_PFX:-}" ]; then
  sign "$staged/unsigned.msi" "$msi" "HealthHub installer"
else
  cp "$staged/unsigned.msi" "$msi"
fi
echo "$msi: $(stat -c %s "$msi") bytes"
