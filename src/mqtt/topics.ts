// MQTT 3.1.1 topic names and filters (spec 4.7): validation, and the subscription tree that routes a published topic
// to every subscriber whose filter matches it. `+` matches one level, `#` (last) the rest including the parent level;
// wildcards at the first level never match topics starting with `$` (broker-internal topics).

export type TopicError = string;

/** null when `topic` is a valid topic name for a PUBLISH (no wildcards, not empty, no NUL), else why not. */
export function topicNameError(topic: string, maxLength: number): TopicError | null {
  if (topic.length === 0) return 'empty topic name';
  if (Buffer.byteLength(topic) > maxLength) return `topic name longer than ${maxLength} bytes (mqtt.maxTopicLength)`;
  if (topic.includes('\u0000')) return 'NUL character in topic name';
  if (topic.includes('+') || topic.includes('#')) return 'wildcard in topic name';
  return null;
}

/** null when `filter` is a valid topic filter for a SUBSCRIBE, else why not. */
export function topicFilterError(filter: string, maxLength: number): TopicError | null {
  if (filter.length === 0) return 'empty topic filter';
  if (Buffer.byteLength(filter) > maxLength) return `topic filter longer than ${maxLength} bytes (mqtt.maxTopicLength)`;
  if (filter.includes('\u0000')) return 'NUL character in topic filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i]!;
    if (l.includes('#') && (l !== '#' || i !== levels.length - 1)) return '"#" must be a whole level and the last one';
    if (l.includes('+') && l !== '+') return '"+" must be a whole level';
  }
  return null;
}

/** Whether `filter` matches `topic` (both already valid). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

class TreeNode<S> {
  readonly children = new Map<string, TreeNode<S>>();
  readonly subscribers = new Map<S, number>();
  get empty(): boolean { return this.children.size === 0 && this.subscribers.size === 0; }
}

/**
 * Filters by level in a tree: matching a topic walks only the branches its levels (and `+`/`#`) name, so the cost of a
 * publish grows with the topic's depth and the number of matching subscribers, not with all subscriptions.
 */
export class SubscriptionTree<S> {
  private readonly root = new TreeNode<S>();
  private count = 0;

  /** Number of (subscriber, filter) pairs. */
  get size(): number { return this.count; }

  add(filter: string, subscriber: S, qos: number): void {
    let node = this.root;
    for (const level of filter.split('/')) {
      let next = node.children.get(level);
      if (!next) { next = new TreeNode<S>(); node.children.set(level, next); }
      node = next;
    }
    if (!node.subscribers.has(subscriber)) this.count++;
    node.subscribers.set(subscriber, qos);
  }

  remove(filter: string, subscriber: S): boolean {
    const path: Array<[TreeNode<S>, string]> = [];
    let node = this.root;
    for (const level of filter.split('/')) {
      const next = node.children.get(level);
      if (!next) return false;
      path.push([node, level]);
      node = next;
    }
    if (!node.subscribers.delete(subscriber)) return false;
    this.count--;
    // Prune empty branches so a churn of distinct filters cannot grow the tree.
    for (let i = path.length - 1; i >= 0 && node.empty; i--) {
      const [parent, level] = path[i]!;
      parent.children.delete(level);
      node = parent;
    }
    return true;
  }

  /** Every subscriber whose filter matches, with the highest QoS among its matching filters. */
  match(topic: string): Map<S, number> {
    const out = new Map<S, number>();
    const levels = topic.split('/');
    const take = (node: TreeNode<S>) => {
      for (const [s, q] of node.subscribers) if ((out.get(s) ?? -1) < q) out.set(s, q);
    };
    const walk = (node: TreeNode<S>, i: number) => {
      const wildOk = !(i === 0 && topic.startsWith('$'));
      if (wildOk) { const hash = node.children.get('#'); if (hash) take(hash); }
      if (i === levels.length) { take(node); return; }
      const exact = node.children.get(levels[i]!);
      if (exact) walk(exact, i + 1);
      if (wildOk) { const plus = node.children.get('+'); if (plus) walk(plus, i + 1); }
    };
    walk(this.root, 0);
    return out;
  }
}
