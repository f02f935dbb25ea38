#!/bin/sh
# The broker users Latchkey's services connect as, each with only the permissions it needs
# (run by the compose file's one-shot `broker-setup` service; rerunning it is harmless; in
# Kubernetes, deploy/kubernetes/base/broker-setup/setup_users.py makes the same users through
# the management API).
#
#   latchkey-registry  may create the events exchange and publish to it (the registry's relay
#                      is its only publisher), and consume from a queue of its own
#   latchkey-instance  may only declare, bind and consume server-named queues of its own
#                      (amq.gen-*): auth and the router, which never publish
#
# Instances also drop any message the registry did not sign (README, "Trust boundaries"):
# these permissions keep everyone else from publishing, the signatures keep a leaked password
# from changing anything.
set -eu
node="${RABBITMQ_NODE:-rabbit@rabbitmq}"
ctl() { "${RABBITMQCTL:-rabbitmqctl}" -q -n "$node" "$@"; }

for _ in $(seq 60); do ctl await_startup >/dev/null 2>&1 && break; sleep 2; done
ctl await_startup

user() {
    if ctl list_users | cut -f1 | grep -qx "$1"; then
        ctl change_password "$1" "$2"
    else
        ctl add_user "$1" "$2"
    fi
}

# Exactly the events exchange: its name's dots are literal in the pattern, not "any character"
# (deploy/kubernetes/base/broker-setup/setup_users.py gives the same patterns).
exchange="^$(printf '%s' "${LATCHKEY_EVENTS_EXCHANGE:-latchkey.token-events}" | sed 's/\./\\./g')\$"
queues='^amq\.gen-.*$'

user latchkey-registry "$RABBITMQ_REGISTRY_PASSWORD"
ctl set_permissions -p / latchkey-registry "$exchange|$queues" "$exchange|$queues" "$exchange|$queues"

user latchkey-instance "$RABBITMQ_INSTANCE_PASSWORD"
ctl set_permissions -p / latchkey-instance "$queues" "$queues" "$exchange|$queues"
echo "broker users ready: latchkey-registry, latchkey-instance"
