#!/bin/sh
# The server runs as its own system user.
set -e
if ! getent group healthhub >/dev/null; then
  groupadd --system healthhub
fi
if ! getent passwd healthhub >/dev/null; then
  useradd --system --gid healthhub --home-dir /var/lib/healthhub --no-create-home --shell /usr/sbin/nologin healthhub
fi
