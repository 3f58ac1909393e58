"""sdv-agent variable tracer: runs a user's program as __main__ and, a few times a second, reports the watched
module-level variables whose value changed; accepts new values for them. Standard library only.

Usage: python -u sdv_trace.py main.py [args...]
Environment (removed before the program runs):
  SDV_TRACE_SOCK   path of the agent's private unix socket (JSON lines both ways; NOT stdout)
  SDV_TRACE_VARS   comma-separated variable names to watch
  SDV_TRACE_INTERVAL  seconds between checks (default 0.25)
Wire: tracer -> agent {"vars": {name: value}};  agent -> tracer {"set": {name: value}} (watched names only).
"""
import json
import math
import os
import socket
import sys
import threading
import traceback
import types

MAX_VALUE_CHARS = 1024  # a value's JSON text beyond this is sent as a truncated repr string

_sock_path = os.environ.pop('SDV_TRACE_SOCK', '')
_watch = [n for n in os.environ.pop('SDV_TRACE_VARS', '').split(',') if n.isidentifier()]
try:
    _interval = max(0.05, float(os.environ.pop('SDV_TRACE_INTERVAL', '0.25')))
except ValueError:
    _interval = 0.25


def _safe(value):
    """A JSON-safe, size-capped representation."""
    if value is None or isinstance(value, (bool, int, str)):
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            return value[:MAX_VALUE_CHARS] + '...'
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2 ** 53:
            return str(value)
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    try:
        text = json.dumps(value, default=repr)
        if len(text) <= MAX_VALUE_CHARS:
            return json.loads(text)
    except Exception:
        pass
    r = repr(value)
    return r[:MAX_VALUE_CHARS] + ('...' if len(r) > MAX_VALUE_CHARS else '')


def _coerce(new, current):
    """The frontend sends strings ("42"): convert to the current value's type when that is a plain scalar."""
    if isinstance(new, str):
        try:
            if isinstance(current, bool):
                return new.strip().lower() in ('1', 'true', 'yes', 'on')
            if isinstance(current, int):
                return int(new)
            if isinstance(current, float):
                return float(new)
            if isinstance(current, str):
                return new
            return json.loads(new)
        except ValueError:
            return new
    return new


class _Channel:
    def __init__(self, path, namespace):
        self.ns = namespace
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.lock = threading.Lock()
        self.last = {}

    def send(self, obj):
        data = (json.dumps(obj) + '\n').encode()
        with self.lock:
            self.sock.sendall(data)

    def report(self):
        changed = {}
        for name in _watch:
            if name not in self.ns:
                continue
            try:
                rep = _safe(self.ns[name])
            except Exception:  # mutated while we read it: try next round
                continue
            key = json.dumps(rep)
            if self.last.get(name) != key:
                self.last[name] = key
                changed[name] = rep
        if changed:
            self.send({'vars': changed})

    def poll_loop(self):
        stop = threading.Event()
        while not stop.wait(_interval):
            try:
                self.report()
            except OSError:
                return

    def read_loop(self):
        buf = b''
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while b'\n' in buf:
                line, buf = buf.split(b'\n', 1)
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                values = msg.get('set') if isinstance(msg, dict) else None
                if isinstance(values, dict):
                    for name, value in values.items():
                        if name in _watch:
                            self.ns[name] = _coerce(value, self.ns.get(name))


def main():
    if len(sys.argv) < 2:
        sys.stderr.write('usage: sdv_trace.py main.py [args...]\n')
        sys.exit(2)
    script = os.path.abspath(sys.argv[1])
    sys.argv = sys.argv[1:]
    sys.path[0] = os.path.dirname(script)
    # The program runs as __main__ in a module object we keep, so its globals can be read and set while it runs.
    module = types.ModuleType('__main__')
    module.__file__ = script
    module.__builtins__ = __builtins__
    sys.modules['__main__'] = module
    channel = None
    if _sock_path and _watch:
        try:
            channel = _Channel(_sock_path, module.__dict__)
            threading.Thread(target=channel.poll_loop, daemon=True).start()
            threading.Thread(target=channel.read_loop, daemon=True).start()
        except OSError as e:
            sys.stderr.write('[sdv-trace] cannot reach the agent, variables are not traced: %s\n' % e)
            channel = None
    with open(script, 'rb') as f:
        code = compile(f.read(), script, 'exec')
    try:
        exec(code, module.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        traceback.print_exception(type(e), e, e.__traceback__.tb_next)
        sys.exit(1)
    finally:
        if channel:
            try:
                channel.report()
            except Exception:
                pass


main()
