#!/usr/bin/env bash
# Builds HealthHub.app (universal: arm64 and amd64) and, with the signing
# variables set, signs it, notarizes it and packs a signed DMG. Runs on
# macOS only (Xcode command-line tools); see .github/workflows/release-macos.yml.
#
#   APPLE_SIGNING_IDENTITY  "Developer ID Application: … (TEAMID)"
#   APPLE_ID, APPLE_TEAM_ID, APPLE_APP_PASSWORD   for notarytool
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${VERSION:?VERSION is needed}"
out=bin/darwin
app="$out/HealthHub.app"
rm -rf "$out" && mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"

ldflags="-s -w -X github.com/healthhub/healthhub/backend/server.Version=$VERSION"
for arch in arm64 amd64; do
  CGO_ENABLED=1 GOOS=darwin GOARCH=$arch go build -tags desktop,production -trimpath -ldflags "$ldflags" -o "$out/HealthHub-$arch" ./app
done
lipo -create -output "$app/Contents/MacOS/HealthHub" "$out/HealthHub-arm64" "$out/HealthHub-amd64"
sed "s/@VERSION@/$VERSION/g" build/darwin/Info.plist > "$app/Contents/Info.plist"
cp build/darwin/icon.icns "$app/Contents/Resources/icon.icns"

dmg="bin/HealthHub-$VERSION.dmg"
if [ -z "${APPLE_SIGNING_IDENTITY:-}" ]; then
  echo "APPLE_SIGNING_IDENTITY is not set: building an unsigned DMG" >&2
  hdiutil create -volname HealthHub -srcfolder "$app" -ov -format UDZO "$dmg"
  exit 0
fi
codesign --force --options runtime --timestamp --entitlements build/darwin/entitlements.plist \
  --sign "$APPLE_SIGNING_IDENTITY" "$app"
codesign --verify --strict --verbose=2 "$app"
hdiutil create -volname HealthHub -srcfolder "$app" -ov -format UDZO "$dmg"
codesign --force --timestamp --sign "$APPLE_SIGNING_IDENTITY" "$dmg"
xcrun notarytool submit "$dmg" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" --password "$APPLE_APP_PASSWORD" --wait
xcrun stapler staple "$dmg"
spctl --assess --type open --context context:primary-signature --verbose "$dmg"
echo "$dmg: signed, notarized and stapled"
