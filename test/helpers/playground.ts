// The Autowrx playground as a user sees it, for tests: a socket.io-client that applies the real frontend's runtime list
// and reply handling, and keeps what the page would show (the output log, the signal widgets, the runtime list, the
// mock list, the running flag, the hardware-kit editor). Written from the frontend's source, public repository
// eclipse-autowrx/autowrx at commit 96e7ad12e2e05d713eed38482fc09967f57fb0b2; every rule below cites the file and lines:
//   C = frontend/src/components/molecules/DaRuntimeConnector.tsx
//   R = frontend/src/components/molecules/dashboard/DaRuntimeControl.tsx   (the prototype dashboard's runtime panel)
//   W = frontend/src/components/molecules/dashboard/DaApisWatch.tsx        (the signal widgets)
//   H = frontend/src/components/organisms/FormHardwareKitManager.tsx        (the hardware-kit page: read/write-file)
// It talks to the stand-in Kit-Manager of ./kit-manager.ts (the real socket.io server, routing like the real one).
import { io, type Socket } from 'socket.io-client';
import { ceiling } from './scope';

type Rec = Record<string, unknown>;

export interface PrototypeSpec {
  id: string;
  name: string;
  /** C 184-190: python → run_python_app, rust → run_rust_app, cpp → run_cpp_app. */
  language?: 'python' | 'rust' | 'cpp';
  code?: string;
  /** C 191-194: prototype.extend.watch_vars, a list of {name}. */
  watchVars?: Array<{ name: string }>;
}

export interface PlaygroundOptions {
  /** The user's assets (C 85, 651-681): CLOUD_RUNTIME names a runtime of the user's, HARDWARE_KIT a kit. */
  assets?: Array<{ type: 'CLOUD_RUNTIME' | 'HARDWARE_KIT'; name: string }>;
  /** The signals the prototype's code uses (R 105-109, passed as usedAPIs to C). */
  usedAPIs?: string[];
  prototype?: PrototypeSpec;
  username?: string;
  /** C 44, 63: the hardware-kit page (H 245-249) uses deploy mode with forceKitId and targetPrefix ['Kit-', 'PilotCar-']. */
  isDeployMode?: boolean;
  targetPrefix?: string | string[];
  forceKitId?: string;
  /** localStorage 'last-rt' (C 408-412, 634-645): the runtime selected last time. */
  lastRt?: string;
}

interface Runtime { kit_id: string; name: string; is_online: boolean; noRunner?: number; [k: string]: unknown }

export class Playground {
  /** R 88, 211-214: the output panel's text (R 706-713). */
  log = '';
  /** R 86, 420-422: the Run button is disabled while true (R 315-316). */
  isRunning = false;
  /** The runtime store's apisValue (C 141-147): what the signal widgets show. */
  apisValue: Rec = {};
  /** The runtime store's traceVars (C 590-593): the watched-variables view. */
  traceVars: Rec = {};
  /** R 102, 418: the mock tab's list (C 595-600). */
  mockSignals: unknown[] = [];
  /** R 103, 423: the runtime-usage tab's data (R 129-146, 736-768). */
  runtimeInfo: Rec | null = null;
  /** H 228-236 via C 619-621: what the hardware-kit editor receives for each read. */
  readFiles: Array<{ path: string; content: string }> = [];
  /** C 369: every kit list from the Kit-Manager, filtered and sorted as C 475-528 does. */
  allRuntimes: Runtime[] = [];
  /** C 107, 651-693: the runtimes in the selector. */
  renderRuntimes: Runtime[] = [];
  /** C 68: the selected runtime. */
  activeRtId: string | undefined = '';
  /** Every kitReply, for a test's own checks of the wire. */
  readonly replies: Rec[] = [];
  private storage = new Map<string, string>();
  private changed: Array<() => void> = [];

  private constructor(readonly socket: Socket, readonly opts: PlaygroundOptions) {
    if (opts.lastRt) this.storage.set('last-rt', opts.lastRt);
    socket.on('connect', () => this.onConnected());
    socket.on('list-all-kits-result', (data: unknown) => { this.onGetAllKitData(data); this.notify(); });
    socket.on('messageToKit-kitReply', (payload: Rec) => { this.replies.push(payload); this.onKitReply(payload); this.notify(); });
  }

  /** C 352-372: io(kitServerUrl, config). Quick reconnects for tests; the frontend uses socket.io-client's defaults. */
  static async open(url: string, opts: PlaygroundOptions = {}): Promise<Playground> {
    const socket = io(url, { reconnectionDelay: 50, reconnectionDelayMax: 200 });
    const p = new Playground(socket, opts);
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('connect_error', reject); });
    return p;
  }

  get id(): string { return this.socket.id ?? ''; }

  close(): void { this.socket.close(); }

  // ---- what the page does on its own ----------------------------------------------------------------------------

  /** C 414-421, 459-465: on connect the client registers; the Kit-Manager answers with the kit list. */
  private onConnected(): void {
    this.socket.emit('register_client', { username: 'test', user_id: 'test', domain: 'domain' });
    // C 422-453 also emits messageToKit {cmd: 'list-all-kits'} without to_kit_id, which the Kit-Manager drops.
  }

  /** C 475-528. */
  private onGetAllKitData(data: unknown): void {
    const list = Array.isArray(data) ? (data as Runtime[]) : [];
    const { forceKitId } = this.opts;
    const targetPrefix = this.opts.targetPrefix ?? 'runtime-'; // R 409, 427: the dashboard passes "runtime-"
    const getLastPart = (kitId: string) => kitId.split('-').pop()!; // C 485-488
    const kits = list.filter((k) => (forceKitId ? true : k.is_online)); // C 492-494
    const sorted = kits.filter((rt) => { // C 497-507: the prefix is matched on kit_id, lower-cased
      if (forceKitId) return true;
      const kitIdLower = rt.kit_id.toLowerCase();
      if (Array.isArray(targetPrefix)) return targetPrefix.some((p) => kitIdLower.startsWith(p.toLowerCase()));
      return kitIdLower.startsWith(targetPrefix ? targetPrefix.toLowerCase() : 'runtime-');
    });
    sorted.sort((a, b) => { // C 509-525
      if (a.is_online !== b.is_online) return Number(b.is_online) - Number(a.is_online);
      const an = parseInt(getLastPart(a.kit_id), 10);
      const bn = parseInt(getLastPart(b.kit_id), 10);
      if (!Number.isNaN(an) && !Number.isNaN(bn)) return an - bn;
      return getLastPart(a.kit_id).localeCompare(getLastPart(b.kit_id));
    });
    this.allRuntimes = sorted;
    this.computeRenderRuntimes();
  }

  /** C 651-693: which runtimes the selector shows. */
  private computeRenderRuntimes(): void {
    const assets = this.opts.assets ?? [];
    if (this.opts.isDeployMode) {
      // C 652-663: kit_id equal (any case) to the name of one of the user's HARDWARE_KIT / CLOUD_RUNTIME assets.
      const kitIds = assets.filter((a) => ['HARDWARE_KIT', 'CLOUD_RUNTIME'].includes(a.type)).map((a) => a.name.toLowerCase());
      this.setRenderRuntimes(this.allRuntimes.filter((rt) => kitIds.includes(rt.kit_id.toLowerCase())));
      return;
    }
    // C 666: public and shared runtimes by *name*, lower-cased.
    const publicRuntimes = this.allRuntimes.filter((rt) => rt.name.toLowerCase().startsWith('runtime-public-') || rt.name.toLowerCase().startsWith('runtime-shared-'));
    // C 668-681: the user's CLOUD_RUNTIME assets: a runtime whose *name* starts with an asset's name (lower-cased).
    const myRuntimeNames = assets.filter((a) => a.type === 'CLOUD_RUNTIME').map((a) => a.name.toLowerCase());
    const myRuntimes = this.allRuntimes.filter((rt) => myRuntimeNames.some((n) => rt.name.toLowerCase().startsWith(n)));
    if (myRuntimes.length >= 3) { this.setRenderRuntimes([...new Set(myRuntimes)]); return; } // C 683-684
    // C 686-689: the least busy public ones (noRunner) fill up to three.
    const freeRuntimes = publicRuntimes.sort((a, b) => (a.noRunner as number) - (b.noRunner as number));
    this.setRenderRuntimes([...new Set([...myRuntimes, ...freeRuntimes.slice(0, 3 - myRuntimes.length)])]);
  }

  /** C 624-649: the selection follows the list; once a runtime is selected it stays while the list is not empty. */
  private setRenderRuntimes(list: Runtime[]): void {
    this.renderRuntimes = list;
    if (list.length > 0) {
      if (this.activeRtId) return;
      const online = list.filter((rt) => rt.is_online);
      if (online.length <= 0) { this.setActiveRtId(undefined); return; }
      const last = this.storage.get('last-rt');
      if (last && online.map((rt) => rt.kit_id).includes(last)) { this.setActiveRtId(last); return; }
      this.setActiveRtId(online[0]!.kit_id);
      this.storage.set('last-rt', online[0]!.kit_id);
    } else this.setActiveRtId(undefined);
  }

  /** The effects that run when activeRtId changes. */
  private setActiveRtId(id: string | undefined): void {
    if (id === this.activeRtId) return;
    this.activeRtId = id;
    if (id) this.storage.set('last-rt', id); // C 408-412
    // R 123-127: a new runtime clears the usage view.
    this.runtimeInfo = null;
    this.socket.emit('messageToKit', { cmd: 'list_mock_signal', to_kit_id: id }); // C 168-174
    if (id) this.getRuntimeInfo(); // C 341-350
    this.tick(); // C 158-166 (activeRtId is a dependency)
  }

  /** C 149-166: every 30 s (and on a new runtime or new usedAPIs), subscribe_apis with the prototype's signals. */
  tick(): void {
    const usedAPIs = this.opts.usedAPIs ?? [];
    if (this.activeRtId && usedAPIs.length > 0) this.socket.emit('messageToKit', { cmd: 'subscribe_apis', to_kit_id: this.activeRtId, apis: usedAPIs });
  }

  // ---- replies (C 534-622) --------------------------------------------------------------------------------------

  /** R 211-214 (appendLog, given as onNewLog at R 419/437). */
  private appendLog(content: unknown): void {
    if (!content) return;
    this.log += String(content);
  }

  private onKitReply(payload: Rec): void {
    if (!payload) return;
    if (payload.cmd === 'deploy_request' || payload.cmd === 'deploy-request') {
      // C 537-547: onDeployResponse is not given by the dashboard (R 408-442); the line goes to the log.
      this.appendLog(payload.result || '');
    }
    if (['run_python_app', 'run_rust_app', 'run_bin_app'].includes(payload.cmd as string)) {
      if (payload.isDone) { // C 552-562: only "Exit code N", and the run is over
        this.appendLog(`Exit code ${payload.code}\r\n`);
        this.isRunning = false;
      } else this.appendLog(payload.result || ''); // C 563-570
    }
    if (['generate_vehicle_model', 'revert_vehicle_model'].includes(payload.cmd as string)) this.appendLog(`${payload.result || ''}\r\n`); // C 573-582
    if (payload.cmd === 'apis-value' && payload.result) {
      // C 584-588 then C 141-147: taken only when it comes from the selected runtime.
      if (this.activeRtId && this.activeRtId === payload.kit_id) this.apisValue = (payload.result as Rec) || {};
    }
    if (payload.cmd === 'trace_vars') this.traceVars = (payload.data as Rec) || {}; // C 590-593
    if (payload.cmd === 'list_mock_signal' && Array.isArray(payload.data)) this.mockSignals = payload.data; // C 595-600
    if (payload.cmd === 'list_python_packages') { // C 602-605
      this.appendLog(`Installed python libs on "${payload.kit_id}"\r\n`);
      this.appendLog(payload.data);
    }
    if (payload.cmd === 'install_python_packages' && payload.data) this.appendLog(payload.data); // C 607-613: data only
    if (['get-runtime-info', 'report-runtime-state'].includes(payload.cmd as string)) { // C 615-617, 695-712
      const lsOfRunner = ((payload.data as Rec | undefined)?.lsOfRunner ?? []) as Rec[];
      this.isRunning = Array.isArray(lsOfRunner) && lsOfRunner.some((r) => r.request_from === this.socket.id);
      this.runtimeInfo = (payload.data as Rec) ?? null;
    }
    if (payload.cmd === 'read-file') { // C 619-621 → H 228-236
      const data = payload.data as Rec | undefined;
      this.readFiles.push({ path: String(data?.path || ''), content: String(data?.content || '') });
    }
  }

  // ---- what the user does ---------------------------------------------------------------------------------------

  private emit(payload: Rec): void { this.socket.emit('messageToKit', { ...payload, to_kit_id: this.activeRtId }); }

  /** R 157-191 (handleRun) then C 176-206 (runApp). */
  run(): void {
    const p = this.opts.prototype ?? { id: 'p', name: 'App name', language: 'python' as const, code: '' };
    this.isRunning = true;
    this.log = '';
    this.appendLog('Run app\r\n'); // C 177-179
    const cmd = p.language === 'rust' ? 'run_rust_app' : p.language === 'cpp' ? 'run_cpp_app' : 'run_python_app';
    const watch_vars = Array.isArray(p.watchVars) ? p.watchVars.map((v) => v.name).join(', ') : '';
    this.emit({ cmd, usedAPIs: this.opts.usedAPIs ?? [], data: { language: p.language, watch_vars, code: p.code ?? '', name: p.name || 'App name' } });
  }

  /** C 208-221: after a remote Rust compile the dashboard runs the binary by name. */
  runBinApp(appName: string): void {
    this.appendLog('Run app\r\n');
    this.emit({ cmd: 'run_bin_app', usedAPIs: this.opts.usedAPIs ?? [], data: appName });
  }

  /** R 193-209 (handleStop) then C 223-229. */
  stop(): void {
    this.isRunning = false;
    this.emit({ cmd: 'stop_python_app', data: {} });
  }

  /** C 231-245. */
  deploy(): void {
    const p = this.opts.prototype!;
    this.emit({ cmd: 'deploy_request', disable_code_convert: true, code: p.code || '', prototype: { name: p.name || 'no-name', id: p.id || 'no-id' }, username: this.opts.username ?? 'tester' });
  }

  listPythonLibs(): void { this.emit({ cmd: 'list_python_packages' }); } // C 247-254
  requestInstallLib(libName: string): void { if (libName) this.emit({ cmd: 'install_python_packages', data: libName.trim() }); } // C 256-264
  revertToDefaultVehicleModel(): void { this.emit({ cmd: 'revert_vehicle_model', data: '' }); } // C 266-274
  buildVehicleModel(vssJson: string): void { if (vssJson) this.emit({ cmd: 'generate_vehicle_model', data: vssJson || '' }); } // C 276-284
  setMockSignals(signals: unknown[]): void { this.emit({ cmd: 'set_mock_signals', data: signals || [] }); } // C 286-292, R 782-789
  loadMockSignals(): void { this.emit({ cmd: 'list_mock_signal' }); } // C 311-316, R 774-781
  writeVarsValue(obj: Rec): void { this.emit({ cmd: 'set_vars_value', data: obj || {} }); } // C 294-301
  writeSignalsValue(obj: Rec): void { this.emit({ cmd: 'write_signals_value', data: obj || {} }); } // C 303-309
  getRuntimeInfo(): void { this.emit({ cmd: 'get-runtime-info' }); } // C 318-323
  readFile(filePath: string): void { this.emit({ cmd: 'read-file', data: filePath }); } // C 325-331
  writeFile(filePath: string, fileContent: string): void { this.emit({ cmd: 'write-file', data: { path: filePath, content: fileContent } }); } // C 333-339

  /** W 95-117: the text typed into a signal widget, converted as the widget does, then written (R 220-228). */
  enterSignalValue(key: string, value: string): void {
    const trimmed = value.trim();
    let sendValue: unknown;
    if (['true', 'false'].includes(trimmed.toLowerCase())) sendValue = trimmed.toLowerCase() === 'true';
    else if (!Number.isNaN(Number(value)) && value.trim() !== '') sendValue = Number(value);
    else sendValue = value.trim() === '' ? Number(value) : trimmed;
    if (value.length > 0) this.writeSignalsValue({ [key]: sendValue });
  }

  // ---- what the user sees ---------------------------------------------------------------------------------------

  /** C 791-806: the selector's options, as text. */
  runtimeOptions(): string[] {
    if (this.renderRuntimes.length === 0) return ['No runtime available'];
    return this.renderRuntimes.map((rt) => `${rt.is_online ? (!rt.noRunner ? '🟢' : '🔴') : '🟡'} ${rt.name} ${rt.noRunner ? `(${rt.noRunner})` : ''}`);
  }

  /** W 67-94: each widget's key and the text in its value box. */
  widgets(): Record<string, string> {
    const used = this.opts.usedAPIs ?? [];
    const keys = used.length > 0 ? used : Object.keys(this.apisValue);
    return Object.fromEntries(keys.map((k) => [k, this.apisValue[k] != null ? String(this.apisValue[k]) : 'null']));
  }

  /** R 129-146, 755-767: the names of the prototypes the usage tab lists as running on the runtime. */
  runningApps(): string[] {
    const ls = (this.runtimeInfo?.lsOfRunner ?? []) as Rec[];
    return Array.isArray(ls) ? ls.map((r) => String(r.appName)) : [];
  }

  // ---- waiting --------------------------------------------------------------------------------------------------

  private notify(): void { for (const f of this.changed.splice(0)) f(); }

  /** Resolves when pred() holds (checked after every event from the Kit-Manager). */
  async until(what: string, pred: () => boolean, atLeastMs?: number): Promise<void> {
    const timeoutMs = ceiling(atLeastMs);
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`playground: ${what} not seen in ${timeoutMs} ms; log: ${JSON.stringify(this.log.slice(-1500))}; runtimes: ${JSON.stringify(this.runtimeOptions())}`);
      await new Promise<void>((resolve) => { const t = setTimeout(resolve, Math.min(left, 200)); this.changed.push(() => { clearTimeout(t); resolve(); }); });
    }
  }

  /** Until the log shows text matching re; returns the log. */
  async logShows(re: RegExp, timeoutMs?: number): Promise<string> {
    await this.until(`log matching ${re}`, () => re.test(this.log), timeoutMs);
    return this.log;
  }

  /** Until the selector lists and selects kitId. */
  async selected(kitId: string, timeoutMs?: number): Promise<void> {
    await this.until(`runtime ${kitId} selected`, () => this.activeRtId === kitId, timeoutMs);
  }
}
