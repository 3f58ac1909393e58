// Velocitas apps as a playground user writes them, run with the real SDK 0.14.1 (the peer scripts/test-peers.sh sets up)
// against an agent's databroker, and a vehicle model written the way the Velocitas model generator writes it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runPython, VELOCITAS_SDK, type PyRun } from './peers';
import { tmpDir, type Scope } from './scope';

/** The SDK class for a VSS type, as the generator names it: boolean → DataPointBoolean, uint8[] → DataPointUint8Array. */
export function dataPointClass(vssType: string): string {
  const arr = vssType.endsWith('[]');
  const base = arr ? vssType.slice(0, -2) : vssType;
  return `DataPoint${base[0]!.toUpperCase()}${base.slice(1)}${arr ? 'Array' : ''}`;
}

/**
 * Python source of a vehicle model for the given leaves (path → VSS type): one Model class per branch with its
 * children as members, and `vehicle = Vehicle("Vehicle")`, as the generated `vehicle` package has it.
 */
export function velocitasModel(leaves: Record<string, string>): string {
  type Node = { children: Map<string, Node>; type?: string };
  const root: Node = { children: new Map() };
  for (const [p, type] of Object.entries(leaves)) {
    let n = root;
    for (const seg of p.split('.')) { if (!n.children.has(seg)) n.children.set(seg, { children: new Map() }); n = n.children.get(seg)!; }
    n.type = type;
  }
  const classes: string[] = [];
  const used = new Set<string>(['Model']);
  const emit = (name: string, node: Node, prefix: string, isRoot: boolean): string => {
    const cls = isRoot ? name : `${prefix}_${name}`;
    const body: string[] = [];
    for (const [child, c] of node.children) {
      if (c.type) { const k = dataPointClass(c.type); used.add(k); body.push(`        self.${child} = ${k}("${child}", self)`); }
      else body.push(`        self.${child} = ${emit(child, c, cls, false)}("${child}", self)`);
    }
    classes.push([
      `class ${cls}(Model):`,
      isRoot ? '    def __init__(self, name):' : '    def __init__(self, name, parent):',
      isRoot ? '        super().__init__()' : '        super().__init__(parent)',
      '        self.name = name',
      ...body, '',
    ].join('\n'));
    return cls;
  };
  const [[rootName, rootNode]] = [...root.children];
  emit(rootName!, rootNode!, '', true);
  return [`from velocitas_sdk.model import ${[...used].sort().join(', ')}`, '', ...classes, `${rootName!.toLowerCase()} = ${rootName}("${rootName}")`, ''].join('\n');
}

/** A folder for PYTHONPATH with `vehicle/__init__.py` (the model) and the `sdv` → velocitas_sdk alias the image has. */
export function appPackages(scope: Scope, leaves: Record<string, string>): string {
  const dir = tmpDir(scope, 'sdv-velocitas-');
  fs.mkdirSync(path.join(dir, 'vehicle'));
  fs.writeFileSync(path.join(dir, 'vehicle', '__init__.py'), velocitasModel(leaves));
  fs.symlinkSync(path.join(VELOCITAS_SDK, 'velocitas_sdk'), path.join(dir, 'sdv'));
  return dir;
}

/** Runs a Velocitas app with the native middleware against the databroker on grpcPort and the MQTT broker at mqttUrl. */
export function runVelocitasApp(scope: Scope, code: string, opts: { grpcPort: number; mqttUrl: string; leaves: Record<string, string> }): PyRun {
  return runPython(scope, code, {
    env: {
      PYTHONPATH: [VELOCITAS_SDK, appPackages(scope, opts.leaves)].join(path.delimiter),
      SDV_MIDDLEWARE_TYPE: 'native',
      SDV_VEHICLEDATABROKER_ADDRESS: `grpc://127.0.0.1:${opts.grpcPort}`,
      SDV_MQTT_ADDRESS: opts.mqttUrl,
    },
  });
}
