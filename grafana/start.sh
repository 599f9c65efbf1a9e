#!/bin/sh
# Grafana's entrypoint in the compose stack: load the alert contact point and policy only when a webhook URL is
# set (a webhook without a URL would stop Grafana's provisioning), then start Grafana as its image does.
set -eu
provisioning=/tmp/lyve-provisioning
rm -rf "$provisioning"
cp -R /etc/grafana/provisioning "$provisioning"
mkdir -p "$provisioning/alerting"
if [ -n "${LYVE_ALERT_WEBHOOK_URL:-}" ]; then
  cp /etc/lyve/notifications/lyve-notifications.yaml "$provisioning/alerting/"
  echo "alert notifications: webhook enabled"
else
  echo "alert notifications: off (set LYVE_ALERT_WEBHOOK_URL in .env to send them)"
fi
export GF_PATHS_PROVISIONING="$provisioning"
exec /run.sh "$@"
