// Retained messages: the last retained PUBLISH per topic, handed to every new matching subscription. Bounded by
// count (mqtt.maxRetained) and payload bytes (mqtt.maxRetainedBytes): a retained message for a new topic that would
// cross a bound is still delivered to current subscribers but not kept, and the store says so (the broker logs it).
import { topicMatches } from './topics';

export interface RetainedMessage { readonly topic: string; readonly payload: Buffer; readonly qos: 0 | 1 }

export type RetainOutcome = 'stored' | 'replaced' | 'cleared' | 'refused';

export class RetainedStore {
  private readonly messages = new Map<string, RetainedMessage>();
  private bytes = 0;

  constructor(private readonly maxCount: number, private readonly maxBytes: number) {}

  get size(): number { return this.messages.size; }
  get totalBytes(): number { return this.bytes; }

  /** An empty payload clears the topic's retained message (spec 3.3.1.3). */
  put(topic: string, payload: Buffer, qos: 0 | 1): RetainOutcome {
    const old = this.messages.get(topic);
    if (payload.length === 0) {
      if (old) { this.messages.delete(topic); this.bytes -= old.payload.length + topic.length; }
      return 'cleared';
    }
    const size = payload.length + topic.length;
    const freed = old ? old.payload.length + topic.length : 0;
    if (this.bytes - freed + size > this.maxBytes || (!old && this.messages.size >= this.maxCount)) return 'refused';
    // A copy: the parser's buffer may be a slice of a larger chunk that would otherwise stay alive with it.
    this.messages.set(topic, { topic, payload: Buffer.from(payload), qos });
    this.bytes += size - freed;
    return old ? 'replaced' : 'stored';
  }

  /** Retained messages whose topic the filter matches, in the order they were first stored. */
  match(filter: string): RetainedMessage[] {
    if (!filter.includes('+') && !filter.includes('#')) {
      const m = this.messages.get(filter);
      return m ? [m] : [];
    }
    const out: RetainedMessage[] = [];
    for (const m of this.messages.values()) if (topicMatches(filter, m.topic)) out.push(m);
    return out;
  }
}
