#!/usr/bin/env bash
# Starts Mosquitto on the loopback interface for the broker tests, and prints the
# environment that points the tests at it (to `eval`). Three listeners:
#   127.0.0.1:18830  anonymous
#   127.0.0.1:18831  user name and password (a password made up for this run)
#   127.0.0.1:18832  TLS, with a certificate authority made up for this run
# Usage: eval "$(.ci/broker.sh start DIR)"; ...; .ci/broker.sh stop DIR
set -euo pipefail

action=$1
dir=$2

if [ "$action" = stop ]; then
  if [ -f "$dir/mosquitto.pid" ]; then
    kill "$(cat "$dir/mosquitto.pid")" 2>/dev/null || true
    rm -f "$dir/mosquitto.pid"
  fi
  exit 0
fi

if ! command -v mosquitto >/dev/null || ! command -v mosquitto_passwd >/dev/null; then
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto >&2
fi
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)

mkdir -p "$dir"
user=ota-dock
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' > "$dir/password"
mosquitto_passwd -b -c "$dir/passwd" "$user" "$(cat "$dir/password")" >&2

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=dji-cloud-ota test CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  > "$dir/server.ext"
openssl x509 -req -days 2 -in "$dir/server.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
  -CAcreateserial -extfile "$dir/server.ext" -out "$dir/server.crt" 2>/dev/null

cat > "$dir/mosquitto.conf" <<CONF
# Run as root: the files above are readable by root only.
user root
per_listener_settings true
persistence false
log_dest file $dir/mosquitto.log
max_queued_messages 100000

listener 18830 127.0.0.1
allow_anonymous true

listener 18831 127.0.0.1
allow_anonymous false
password_file $dir/passwd

listener 18832 127.0.0.1
allow_anonymous true
cafile $dir/ca.crt
certfile $dir/server.crt
keyfile $dir/server.key
CONF

"$mosquitto" -c "$dir/mosquitto.conf" >&2 &
echo $! > "$dir/mosquitto.pid"

for port in 18830 18831 18832; do
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "Mosquitto is not listening on 127.0.0.1:$port" >&2
    cat "$dir/mosquitto.log" >&2 || true
    exit 1
  fi
done

echo "export OTA_TEST_BROKER=127.0.0.1:18830"
echo "export OTA_TEST_AUTH_BROKER=127.0.0.1:18831 OTA_TEST_AUTH_USER=$user OTA_TEST_AUTH_PASSWORD_FILE=$dir/password"
echo "export OTA_TEST_TLS_BROKER=127.0.0.1:18832 OTA_TEST_TLS_CA=$dir/ca.crt"
# The fault tests start (and kill) brokers of their own.
echo "export OTA_TEST_MOSQUITTO=$mosquitto"
