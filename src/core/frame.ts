// What every layer shares about messages and the peers that receive them: the JSON frame and the Client a part
// pushes events to. No imports: the parts, the commands and the doors all build on this.
/** A JSON object frame. */
export type Frame = Record<string, unknown>;

/**
 * Someone who can receive pushed events (console lines, status changes, signal batches): one local API connection,
 * one Kit-Manager frontend client (request_from), one outbound ws controller. Parts hold Clients, never sockets.
 */
export interface Client {
  /** Stable for the client's lifetime; for a Kit-Manager client, its request_from. */
  readonly id: string;
  /** Which door it came through: local, kit (Socket.IO), kit-ws. Informational only (lsOfRunner.from). */
  readonly door: string;
  /** Deliver one event. Seed-000 frames; the door translates them for its peer. Never throws. */
  send(frame: Frame): void;
  /** True while the transport under this client is above its soft send-buffer limit: producers should hold back. */
  congested(): boolean;
  /**
   * Run fn once, when the client is no longer congested (a producer that held back carries on at once instead of
   * polling congested()). Returns a disposer. Optional: a client without it is polled.
   */
  whenDrained?(fn: () => void): () => void;
  /** True once the client is gone; sends are then dropped. */
  readonly closed: boolean;
  /** Run fn when the client goes away. Returns a disposer. */
  onClose(fn: () => void): () => void;
}
