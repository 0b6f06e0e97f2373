import type { CatalogEntry } from '../catalog/catalog.js';
import type { DeadLetterReason, WireProtocol } from '../envelope/envelope.js';

export interface FrameMeta {
  readonly protocol: WireProtocol;
  readonly connectionId: string;
  readonly receivedAt: Date;
}

/** What the Tote client hands to the rest of the subscriber. */
export interface ClientHandlers {
  /** One Tote message: `payload` is `data.<rootField>` exactly as sent. */
  onMessage(entry: CatalogEntry, payload: Record<string, unknown>, raw: string, meta: FrameMeta): void;
  /** A frame that cannot become an envelope; the caller dead-letters it. */
  onBadFrame(reason: DeadLetterReason, detail: string, raw: string, meta: FrameMeta, entry?: CatalogEntry): void;
  /**
   * Once per socket, after connection_ack, when every operation has been
   * started. `reconnect` is false only for the first socket since start():
   * after any other, what Tote sent while we were away is gone and has to be
   * fetched some other way.
   */
  onConnected?(info: { connectionId: string; protocol: WireProtocol; reconnect: boolean }): void;
}
