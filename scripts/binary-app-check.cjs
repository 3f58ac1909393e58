#!/usr/bin/env node
// Used by scripts/ci-binary-smoke.sh and scripts/test-arm64.sh: deploys one app through a running agent's local API
// and waits until its output carries a marker, proving the single binary supervises apps (node-pty addon loaded).
//
//   node scripts/binary-app-check.cjs <api ws url> shell|python [timeoutMs]
//   node scripts/binary-app-check.cjs <host:port> kuksa [timeoutMs]
//   node scripts/binary-app-check.cjs <api ws url> heap [timeoutMs]
// kuksa: asks the agent's embedded databroker over kuksa.val.v2 gRPC for its server info and the metadata under
// "Vehicle", proving the .proto files and the default vehicle model travelled inside the binary.
//
// heap: get_runtime_info's V8 heap limit must be the one scripts/heap-flags.json sets for the binary (execArgv of the
// SEA): the old generation's limit plus the young generation's (3 semi-spaces: V8 keeps two and a large-object space
// of the same size), not the ~4 GB V8 picks from the build host's memory.
//
// Runs on the build host's node (uses ws from node_modules), never inside the binary under test.
'use strict';
const path = require('node:path');
const WebSocket = require(path.join(__dirname, '..', 'node_modules', 'ws'));

const [url, kind = 'shell', timeoutArg = '60000'] = process.argv.slice(2);
if (!url || !['shell', 'python', 'kuksa', 'heap'].includes(kind)) {
  process.stderr.write('usage: binary-app-check.cjs <ws url> shell|python|heap [timeoutMs] | <host:port> kuksa [timeoutMs]\n');
  process.exit(2);
}

function kuksaCheck() {
  const nm = path.join(__dirname, '..', 'node_modules');
  const grpc = require(path.join(nm, '@grpc', 'grpc-js'));
  const loader = require(path.join(nm, '@grpc', 'proto-loader'));
  const def = loader.loadSync('kuksa/val/v2/val.proto', { includeDirs: [path.join(__dirname, '..', 'proto')], keepCase: true, defaults: true });
  const VAL = grpc.loadPackageDefinition(def).kuksa.val.v2.VAL;
  const client = new VAL(url, grpc.credentials.createInsecure());
  const deadline = () => new Date(Date.now() + Number(timeoutArg));
  client.GetServerInfo({}, { deadline: deadline() }, (err, info) => {
    if (err) { process.stderr.write(`binary-app-check: FAIL: GetServerInfo: ${err.message}\n`); process.exit(1); }
    client.ListMetadata({ root: 'Vehicle', filter: '' }, { deadline: deadline() }, (err2, list) => {
      if (err2) { process.stderr.write(`binary-app-check: FAIL: ListMetadata: ${err2.message}\n`); process.exit(1); }
      const n = (list.metadata || []).length;
      if (n === 0) { process.stderr.write('binary-app-check: FAIL: no metadata under Vehicle (default vehicle model missing?)\n'); process.exit(1); }
      process.stdout.write(`binary-app-check: kuksa gRPC answers (${info.name} ${info.version}, ${n} signals under Vehicle)\n`);
      client.close();
      // sdv.databroker.v1 (the Velocitas SDK's API) is served from the same store: its protos travelled too
      const sdvDef = loader.loadSync('sdv/databroker/v1/broker.proto', { includeDirs: [path.join(__dirname, '..', 'proto')], keepCase: true, defaults: true });
      const broker = new (grpc.loadPackageDefinition(sdvDef).sdv.databroker.v1.Broker)(url, grpc.credentials.createInsecure());
      broker.GetMetadata({ names: [] }, { deadline: deadline() }, (err3, md) => {
        if (err3) { process.stderr.write(`binary-app-check: FAIL: sdv.databroker.v1 GetMetadata: ${err3.message}\n`); process.exit(1); }
        if ((md.list || []).length !== n) { process.stderr.write(`binary-app-check: FAIL: sdv GetMetadata lists ${(md.list || []).length} signals, kuksa.val v2 ${n}\n`); process.exit(1); }
        process.stdout.write(`binary-app-check: sdv.databroker.v1 answers (${md.list.length} signals)\n`);
        broker.close();
        process.exit(0);
      });
    });
  });
}

function appCheck() {
  const marker = `sdv-binary-check-${process.pid}`;
  const id = `binary-check-${kind}`;
  const prototype = kind === 'python'
    ? { id, name: 'binary check (python)', type: 'python', code: `import sys\nprint("${marker}", sys.version_info[0])\n`, config: {} }
    // a shell script is a valid executable for a "binary" app: the kernel honours the #! line
    : { id, name: 'binary check (shell)', type: 'binary', code: Buffer.from(`#!/bin/sh\necho ${marker} $((6*7))\n`).toString('base64'), config: {} };

  const ws = new WebSocket(url);
  const pending = new Map();
  let seq = 0;
  const fail = (msg) => { process.stderr.write(`binary-app-check: FAIL: ${msg}\n`); process.exit(1); };
  setTimeout(() => fail(`no output with the marker within ${timeoutArg} ms`), Number(timeoutArg)).unref();

  function call(type, body = {}) {
    const mid = `m${++seq}`;
    ws.send(JSON.stringify({ type, id: mid, ...body }));
    return new Promise((resolve) => pending.set(mid, resolve));
  }
  const seen = (frame) => JSON.stringify(frame).includes(marker);

  ws.on('error', (e) => fail(`websocket: ${e.message}`));
  ws.on('message', (data) => {
    let frame;
    try { frame = JSON.parse(String(data)); } catch { return; }
    if (frame.type === 'console_output' && seen(frame)) done('console_output');
    const r = frame.id !== undefined && pending.get(frame.id);
    if (r) { pending.delete(frame.id); r(frame); }
  });

  let finished = false;
  function done(how) {
    if (finished) return;
    finished = true;
    process.stdout.write(`binary-app-check: ${kind} app output seen (${how})\n`);
    ws.close();
    setTimeout(() => process.exit(0), 100);
  }

  ws.on('open', async () => {
    const deployed = await call('deploy_request', { prototype, vehicle_id: 'default-vehicle' });
    if (deployed.error || deployed.status === 'error') fail(`deploy_request: ${JSON.stringify(deployed)}`);
    const appId = deployed.appId || `VEA-${id}`;
    await call('console_subscribe', { appId });
    const ran = await call('run_app', { appId });
    if (ran.error) fail(`run_app: ${JSON.stringify(ran)}`);
    // the console stream may have missed a very short-lived app: ask for its recent output too
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      if (finished) return;
      const out = await call('app_output', { appId, lines: 100 });
      if (seen(out)) return done('app_output');
    }
  });
}

function heapCheck() {
  const flags = JSON.parse(require('node:fs').readFileSync(path.join(__dirname, 'heap-flags.json'), 'utf8'));
  const fail = (msg) => { process.stderr.write(`binary-app-check: FAIL: ${msg}\n`); process.exit(1); };
  setTimeout(() => fail(`no get_runtime_info reply within ${timeoutArg} ms`), Number(timeoutArg)).unref();
  const ws = new WebSocket(url);
  ws.on('error', (e) => fail(`websocket: ${e.message}`));
  ws.on('open', () => ws.send(JSON.stringify({ type: 'get_runtime_info', id: 'heap' })));
  ws.on('message', (data) => {
    let frame;
    try { frame = JSON.parse(String(data)); } catch { return; }
    if (frame.id !== 'heap') return;
    const limitMB = (frame.memory?.heapSizeLimitBytes ?? NaN) / 1048576;
    const old = flags.maxOldSpaceSizeMB;
    // Without a semi-space flag V8 sizes the young generation itself (192 MB beside a 128 MB old generation on Node 24).
    const [lo, hi] = flags.maxSemiSpaceSizeMB ? [old + 3 * flags.maxSemiSpaceSizeMB, old + 3 * flags.maxSemiSpaceSizeMB] : [old, old + 256];
    if (!(limitMB >= lo && limitMB <= hi)) fail(`the V8 heap limit is ${limitMB} MB, expected ${lo === hi ? lo : `${lo}..${hi}`} MB from scripts/heap-flags.json (${JSON.stringify(flags)})`);
    process.stdout.write(`binary-app-check: V8 heap limit ${limitMB} MB (scripts/heap-flags.json: ${JSON.stringify(flags)})\n`);
    ws.close();
    setTimeout(() => process.exit(0), 100);
  });
}

if (kind === 'kuksa') kuksaCheck();
else if (kind === 'heap') heapCheck();
else appCheck();
