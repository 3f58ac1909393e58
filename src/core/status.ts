// What the agent knows of itself and its links, shared by the parts that set it and the doors that report it
// (get_runtime_info, /health). No imports.
/** Connection flags the health endpoint and get_runtime_info read; each part sets its own. */
export interface StatusBoard {
  kitManager: { configured: boolean; connected: boolean; url: string; droppedReplies: number; lastLoss?: { reason: string; at: string } | null };
  kuksa: { mode: string; connected: boolean; address: string; api: string; serveError?: string | null };
  /** Authenticated clients of the local API now. */
  localApi: { clients: number };
}

export interface RuntimeState {
  readonly runtimeId: string;
  readonly kitId: string;
  readonly name: string;
  readonly version: string;
  readonly startedAt: number;
  /** Things an operator should know (a quarantined registry, a refused config part): shown in get_runtime_info. */
  readonly notices: string[];
}
