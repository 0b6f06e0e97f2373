import { randomBytes } from 'node:crypto';

/**
 * Where an envelope stands in its publisher's output: the publisher's
 * session (random, one per publisher instance, so per lease holding) and a
 * gapless number in the order envelopes were handed to it, which is the
 * order they were received from Tote (ids are stamped and published in one
 * synchronous step, see Ingest.dispatch).
 *
 * Why: an SSE instance reads every topic through its own subscriptions, and
 * messages of different topics and ordering keys reach it in different
 * orders. Knowing every number up to N of a session has arrived tells it
 * that nothing with a smaller id of that session is still on the way, so it
 * can stream N at once instead of holding it for the whole reorder window
 * (see ReorderWindow).
 */
export interface PublishOrder {
  readonly session: string;
  readonly seq: number;
}

/** Pub/Sub attribute names; values are strings, as attributes must be. */
export const SESSION_ATTRIBUTE = 'publisherSession';
export const SEQ_ATTRIBUTE = 'publisherSeq';

/** Longer than any real session id: an attribute past it is not one of ours. */
const MAX_SESSION_LENGTH = 64;

/** One publisher's numbering: a fresh session per instance, numbers from 1. */
export class PublishSequence {
  readonly session = randomBytes(8).toString('hex');
  private last = 0;

  /** The next number; taken once per envelope, before its first publish attempt (retries keep it). */
  next(): PublishOrder {
    return { session: this.session, seq: ++this.last };
  }

  /** Numbers handed out so far. */
  get issued(): number {
    return this.last;
  }
}

/**
 * The order carried by a message's attributes, or undefined when it has none
 * (an older publisher) or they are malformed: such a message is still
 * delivered, only without the shortcut (it waits out the reorder window).
 */
export function readPublishOrder(attributes: Readonly<Record<string, string>>): PublishOrder | undefined {
  const session = attributes[SESSION_ATTRIBUTE];
  const seqText = attributes[SEQ_ATTRIBUTE];
  if (session === undefined || seqText === undefined) return undefined;
  if (session.length === 0 || session.length > MAX_SESSION_LENGTH || !/^[1-9][0-9]{0,15}$/.test(seqText)) return undefined;
  const seq = Number(seqText);
  return Number.isSafeInteger(seq) ? { session, seq } : undefined;
}
