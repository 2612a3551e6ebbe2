#!/usr/bin/env bash
# Builds the Linux packages with nfpm: bin/healthhub-desktop_VERSION_amd64.deb
# and bin/healthhubd_VERSION_amd64.deb, then checks what each holds.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?VERSION is needed}"
BIN=bin # the nfpm configurations name bin/
export VERSION
nfpm=(go run github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2)
for pkg in desktop server; do
  "${nfpm[@]}" package --packager deb --config "build/linux/nfpm-$pkg.yaml" --target "$BIN/"
done
desktop="$BIN/healthhub-desktop_${VERSION}_amd64.deb"
server="$BIN/healthhubd_${VERSION}_amd64.deb"
check() { # deb what pattern
  dpkg-deb "$2" "$1" | grep -E "$3" >/dev/null || { dpkg-deb "$2" "$1" >&2; echo "deb: $1 lacks $3" >&2; exit 1; }
}
check "$desktop" --contents '\./usr/bin/healthhub$'
check "$desktop" --contents 'usr/share/applications/healthhub.desktop'
check "$desktop" --info "Version: ${VERSION}"
check "$desktop" --info 'Depends: .*libwebkit2gtk-4.1-0'
check "$server" --contents '\./usr/bin/healthhubd$'
check "$server" --contents 'lib/systemd/system/healthhubd.service'
check "$server" --contents 'etc/healthhub/healthhubd.env'
check "$server" --info "Version: ${VERSION}"
for f in "$desktop" "$server"; do echo "$f: $(stat -c %s "$f") bytes"; done
