import type { OutgoingMessage } from '../bus/retry-lanes.js';

/** One message per line; data is the message's JSON text, kept as text. */
export function encodeBatch(messages: readonly OutgoingMessage[]): string {
  return messages.map((m) => JSON.stringify(m)).join('\n') + '\n';
}

export function decodeBatch(text: string): OutgoingMessage[] {
  const out: OutgoingMessage[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const m = JSON.parse(line) as OutgoingMessage;
    if (typeof m.topic !== 'string' || typeof m.data !== 'string' || typeof m.id !== 'string')
      throw new Error('outbox line is not a message');
    out.push(m);
  }
  return out;
}

/** Batch names sort in write order: time first, then the writer. */
export function batchName(instanceId: string, at = new Date()): string {
  return `${at.toISOString().replace(/[:.]/g, '-')}-${instanceId.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`;
}
