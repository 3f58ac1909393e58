#!/bin/sh
# /start_services.sh for the Eclipse Autowrx sdv-runtime image, with sdv-agent in place of the Python syncer.
# The same services, from the same variables, in the same order: mosquitto, the KUKSA databroker, the vehicle model
# generation (VSS_DATA), the mock datapoints and the mock provider. What differs:
#   - the databroker runs as the agent's `kuksa-server` app (deployed on the first start, restored by the agent at
#     every later one), so generate_vehicle_model in external mode can restart it with a new model; the agent
#     therefore starts first and the rest follows once the databroker listens;
#   - this script stays PID 1: it forwards SIGTERM/SIGINT, collects every child that ends (orphans included: the
#     agent would not) and exits with the agent's status, so `docker stop` ends the container cleanly at once;
#   - SYNCER_SERVER_URL and RUNTIME_NAME are exported: the agent reads them (kitManager.url, runtime.name), so a plain
#     `docker run` appears in the playground as before.

DATABROKER_ARGS=${DATABROKER_ARGS:-""}
SYNCER_SERVER_URL=${SYNCER_SERVER_URL:-"https://kit.digitalauto.tech"}
VSS_DATA=${VSS_DATA:-""}
RUNTIME_NAME=${RUNTIME_NAME:-"VSS4.0"} # Display name on the playground
MOCK_SIGNAL=${MOCK_SIGNAL:-"/home/dev/ws/mock/signals.json"}
SITE_PACKAGES_DIR="/home/dev/python-packages"
GEN_MODEL_DIR="/home/dev/python-packages/vehicle-model-generator/gen_model"
export SYNCER_SERVER_URL RUNTIME_NAME MOCK_SIGNAL

AGENT_CONFIG=${SDV_AGENT_CONFIG:-/home/dev/ws/sdv-agent.yaml}
API="python3 /home/dev/ws/sdv-api.py"

echo "Running as user: $(id -u -n)"

services=""
stopping=""
stop_all() { for p in ${agent:-} $services; do kill -TERM "$p" 2>/dev/null; done; }
trap 'stopping=1; stop_all' TERM INT
# retry N command…: runs the command every half second until it succeeds, at most N times; gives up when stopping.
retry() {
  n=$1; shift
  while [ -z "$stopping" ]; do
    "$@" >/dev/null 2>&1 && return 0
    n=$((n - 1)); [ "$n" -gt 0 ] && kill -0 "$agent" 2>/dev/null || return 1
    sleep 0.5
  done
  return 1
}

mosquitto -c /etc/mosquitto/mosquitto-no-auth.conf &
services="$services $!"

/usr/local/bin/sdv-agent --config "$AGENT_CONFIG" &
agent=$!

retry 60 $API --timeout 2 '{"type":"ping"}' || [ -n "$stopping" ] || echo "sdv-agent does not answer on its local API" >&2

# The databroker: the variables it reads itself are handed to it, DATABROKER_ARGS are its arguments.
if [ -z "$stopping" ] && ! $API '{"type":"list_deployed_apps"}' | grep -q '"id": "VEA-databroker"'; then
  $API "$(python3 -c '
import json, os, sys
env = {k: os.environ[k] for k in ("KUKSA_DATABROKER_ADDR", "KUKSA_DATABROKER_PORT", "KUKSA_DATABROKER_METADATA_FILE") if os.environ.get(k)}
print(json.dumps({"type": "deploy_request", "prototype": {"id": "databroker", "name": "KUKSA databroker", "type": "kuksa-server",
    "config": {"path": "/app/databroker", "args": sys.argv[1:], "env": env, "restartPolicy": "on-failure", "autoStart": True}}}))
' $DATABROKER_ARGS)" >/dev/null || echo "could not deploy the databroker app" >&2
fi
retry 60 python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
  "${KUKSA_DATABROKER_PORT:-55555}" || [ -n "$stopping" ] || echo "the databroker does not listen on port ${KUKSA_DATABROKER_PORT:-55555}" >&2

if [ -z "$stopping" ] && [ -n "$VSS_DATA" ]; then
    cd /home/dev/python-packages/vehicle-model-generator/
    python3 src/velocitas/model_generator/cli.py "$VSS_DATA"  -I ../vehicle_signal_specification/spec -u ../vehicle_signal_specification/spec/units.yaml
    echo "Generated vehicle model from custom vss.json file at $SITE_PACKAGES_DIR/vehicle"
    rm -rf "$SITE_PACKAGES_DIR/vehicle"
    cp -r "$GEN_MODEL_DIR/vehicle" "$SITE_PACKAGES_DIR/"
    cd /home/dev/
fi

if [ -z "$stopping" ] && [ -n "$MOCK_SIGNAL" ]; then
    python3 /home/dev/ws/mock/mock.py
    python3 /home/dev/ws/mock/mockprovider.py &
    services="$services $!"
    echo "Created mock datapoints from input file, mock provider is now running"
fi

# `wait` returns early when a trapped signal arrives: wait again until the agent is really gone.
while :; do
  wait "$agent"
  status=$?
  kill -0 "$agent" 2>/dev/null || break
done
stop_all
exit "$status"
