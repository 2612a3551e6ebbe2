#!/usr/bin/env bash
# Builds the MSI signed with a throwaway self-signed certificate, then
# checks what IT relies on: the product's name, version and upgrade code,
# the per-machine install, the Start-menu shortcut, the preset properties,
# and valid signatures on the binary and the installer.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?VERSION is needed}" "${BIN:=bin}"
command -v openssl >/dev/null || { echo "openssl is needed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:3072 -sha256 -days 2 -nodes -subj "/CN=HealthHub test signing/O=HealthHub" \
  -addext "extendedKeyUsage=codeSigning" -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
openssl pkcs12 -export -inkey "$work/key.pem" -in "$work/cert.pem" -out "$work/sign.pfx" -passout pass:throwaway
SIGN_PFX="$work/sign.pfx" SIGN_PASSWORD=throwaway VERSION="$VERSION" BIN="$BIN" build/windows/package.sh

msi="$BIN/HealthHub-$VERSION.msi"
fail() { echo "msi-test: $*" >&2; exit 1; }
table() { msiinfo export "$msi" "$1"; }
expect() { # table pattern what
  table "$1" | grep -E "$2" >/dev/null || { table "$1" >&2; fail "$3"; }
}
expect Property $'^ProductName\tHealthHub\r?$' "product name"
expect Property $'^ProductVersion\t'"${VERSION%%-*}"$'\r?$' "product version"
expect Property $'^UpgradeCode\t\\{5C8B3E52-8F0D-4B8E-9C2A-3D1F6A7B9E41\\}\r?$' "upgrade code"
expect Property $'^ALLUSERS\t1\r?$' "per-machine install"
expect Upgrade '5C8B3E52-8F0D-4B8E-9C2A-3D1F6A7B9E41' "upgrade table (a new version replaces the old)"
expect Shortcut $'HealthHubShortcut\tProgramMenuFolder\tHealthHub' "Start-menu shortcut"
expect Registry $'\tSOFTWARE\\\\HealthHub\\\\Desktop\tMode\t\\[MODE\\]\t' "MODE preset"
expect Registry $'\tSOFTWARE\\\\HealthHub\\\\Desktop\tServerURL\t\\[SERVER_URL\\]\t' "SERVER_URL preset"
expect File $'HealthHub.exe' "the program file"

# The binary carries the version and product name in its resources.
strings -el "$BIN/msi-stage/HealthHub.exe" | grep -A1 -x ProductVersion | grep -x "$VERSION" >/dev/null || fail "the binary's version resource"
strings -el "$BIN/msi-stage/HealthHub.exe" | grep -A1 -x ProductName | grep -x HealthHub >/dev/null || fail "the binary's product name resource"

# The signatures: the MSI's, and the binary's inside it.
osslsigncode verify -CAfile "$work/cert.pem" -in "$msi" > "$work/verify-msi.txt" 2>&1 || { cat "$work/verify-msi.txt" >&2; fail "the MSI's signature does not verify"; }
grep -q "Signature verification: ok" "$work/verify-msi.txt" || fail "the MSI's signature: $(cat "$work/verify-msi.txt")"
osslsigncode verify -CAfile "$work/cert.pem" -in "$BIN/msi-stage/HealthHub.exe" > "$work/verify-exe.txt" 2>&1 || { cat "$work/verify-exe.txt" >&2; fail "the binary's signature does not verify"; }
# A changed byte breaks the signature.
cp "$msi" "$work/tampered.msi"
printf 'X' | dd of="$work/tampered.msi" bs=1 seek=$(( $(stat -c %s "$msi") / 2 )) conv=notrunc 2>/dev/null
if osslsigncode verify -CAfile "$work/cert.pem" -in "$work/tampered.msi" >/dev/null 2>&1; then fail "a tampered MSI verified"; fi

echo "msi-test: $msi ($(stat -c %s "$msi") bytes) has the product name, version ${VERSION%%-*}, upgrade code, per-machine scope, Start-menu shortcut and MODE/SERVER_URL presets; its signature and the binary's verify, a tampered copy's does not"
