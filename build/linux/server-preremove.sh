#!/bin/sh
# Stop the service before its files go; the data in /var/lib/healthhub stays.
set -e
if [ -d /run/systemd/system ] && [ "$1" = "remove" ]; then
  systemctl disable --now healthhubd.service >/dev/null || true
fi
