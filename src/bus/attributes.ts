import { deliveryOf, type DeadLetter, type Envelope } from '../envelope/envelope.js';
import { SEQ_ATTRIBUTE, SESSION_ATTRIBUTE, type PublishOrder } from './publish-order.js';

/**
 * Pub/Sub attributes of an envelope: enough to filter a subscription or route
 * a message without parsing its data. Attribute values must be strings.
 * `order` is the publisher's session and number (see PublishOrder); only
 * envelopes on catalog topics carry one.
 */
export function envelopeAttributes(e: Envelope, order?: PublishOrder): Record<string, string> {
  const attrs: Record<string, string> = {
    messageType: e.type,
    envelopeId: e.id,
    rootField: e.rootField,
    receivedAt: e.receivedAt,
    source: e.source,
    // live or reconciled: a subscription can filter on it (attributes.delivery = "reconciled").
    delivery: deliveryOf(e),
  };
  for (const [k, v] of Object.entries(e.keys)) if (v !== undefined) attrs[k] = v;
  if (e.test) attrs.test = 'true';
  if (order) {
    attrs[SESSION_ATTRIBUTE] = order.session;
    attrs[SEQ_ATTRIBUTE] = String(order.seq);
  }
  return attrs;
}

export function deadLetterAttributes(d: DeadLetter): Record<string, string> {
  const attrs: Record<string, string> = {
    deadLetterId: d.id,
    reason: d.reason,
    receivedAt: d.receivedAt,
    source: d.source,
  };
  if (d.rootField) attrs.rootField = d.rootField;
  if (d.type) attrs.messageType = d.type;
  return attrs;
}
