// A Client of the command layer that keeps what it is sent in memory, for unit tests of the parts that push frames
// (console, batcher). `congested` is set by the test to play a slow reader; close() runs the close hooks.
import type { Client, Frame } from '../../src/core/frame';

export class MemoryClient implements Client {
  readonly frames: Frame[] = [];
  closed = false;
  congestedNow = false;
  private closers: Array<() => void> = [];
  constructor(readonly id: string, readonly door = 'test') {}
  send(f: Frame): void { this.frames.push(f); }
  congested(): boolean { return this.congestedNow; }
  onClose(fn: () => void): () => void { this.closers.push(fn); return () => {}; }
  close(): void { this.closed = true; for (const f of this.closers) f(); }
}
