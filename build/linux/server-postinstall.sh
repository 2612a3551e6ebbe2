#!/bin/sh
# Enable the service; start it on a first install, restart it on an upgrade.
set -e
install -d -m 0700 -o healthhub -g healthhub /var/lib/healthhub
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable healthhubd.service >/dev/null
  if [ "$1" = "configure" ] && [ -n "$2" ]; then
    systemctl restart healthhubd.service
  else
    systemctl start healthhubd.service
  fi
  echo "HealthHub server started: journalctl -u healthhubd shows its address, the first administrator's setup link and its certificate fingerprint"
fi
