#!/bin/sh
# PID 1 of the sdv-agent container. Starts the agent (or the command given), forwards SIGTERM, SIGINT and SIGHUP to
# it, and exits with its status once it is gone. Why not the agent itself as PID 1: every orphan in the container is
# re-parented to PID 1, and Node never waits for processes it did not start, so an app's orphaned child would stay a
# zombie. While this shell waits for the agent it collects every child that ends, orphans included.
[ $# -gt 0 ] || set -- /usr/local/bin/sdv-agent
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM
trap 'kill -INT "$child" 2>/dev/null' INT
trap 'kill -HUP "$child" 2>/dev/null' HUP
# `wait` returns early when a trapped signal arrives: wait again until the agent is really gone.
while :; do
  wait "$child"
  status=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$status"
