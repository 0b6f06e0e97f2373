import type { Payload } from './payloads.js';

/** One message of the simulated day: what to publish, and when (simulated epoch ms). */
export interface TimedMessage {
  readonly at: number;
  readonly rootField: string;
  readonly payload: Payload;
}

/** A message whose payload is built only when it is due, so it reads the clock of that moment. */
export interface PendingMessage {
  readonly at: number;
  readonly rootField: string;
  readonly build: () => Payload;
}

/** Stable sort by time, then build each payload as it is reached. */
export function* inTimeOrder(pending: PendingMessage[]): Generator<TimedMessage> {
  pending.sort((a, b) => a.at - b.at);
  for (const p of pending) yield { at: p.at, rootField: p.rootField, payload: p.build() };
}
