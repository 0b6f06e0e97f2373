/**
 * The one list of Tote subscriptions. Everything else derives from it: the
 * subscriber's operations, the Pub/Sub topics, the history schema and views,
 * the SSE event names and the CDKTF stack. Adding a sixteenth subscription is
 * one entry here.
 *
 * Topic decision: one topic per message type, bets included. The bet
 * lifecycle is reassembled downstream by betId (history views, SSE filters);
 * a shared bet topic would force every consumer of one bet message to filter
 * out the other five.
 */

/** Entity keys a message can carry; each becomes a history column and a Pub/Sub attribute. */
export const ENTITY_KEYS = ['productId', 'eventId', 'betId', 'customerBetId', 'legId', 'selectionId', 'competitorId'] as const;
export type EntityKey = (typeof ENTITY_KEYS)[number];

export type Family = 'bet' | 'product' | 'selection' | 'pool-total' | 'dividend' | 'event' | 'result' | 'competitor' | 'lines';

export interface KeySpec {
  readonly name: EntityKey;
  /** A message without a required key is dead-lettered: it cannot be routed or joined. */
  readonly required: boolean;
}

export interface CatalogEntry {
  /** GraphQL subscription root field, e.g. onPoolTotalChanged. */
  readonly rootField: string;
  /** Message type, as Tote's message catalogue names it, e.g. PoolTotalChanged. */
  readonly messageType: string;
  readonly family: Family;
  /** Pub/Sub topic id. */
  readonly topic: string;
  /** Entity keys read from the top level of the payload. */
  readonly keys: readonly KeySpec[];
  /**
   * The key whose value becomes the Pub/Sub ordering key, where order matters
   * (a later pool total must not overtake an earlier one for the same product).
   */
  readonly orderingKey: EntityKey;
  /** Selection set used when the live schema cannot be introspected. */
  readonly selection: string;
  readonly description: string;
}

const MONEY = 'decimalAmount currency { code }';
const AMOUNTS = `grossAmounts { ${MONEY} } netAmounts { ${MONEY} }`;

const req = (name: EntityKey): KeySpec => ({ name, required: true });
const opt = (name: EntityKey): KeySpec => ({ name, required: false });

function bet(rootField: string, messageType: string, description: string, withReason = false): CatalogEntry {
  return {
    rootField,
    messageType,
    family: 'bet',
    topic: topicFor(messageType),
    keys: [req('betId'), opt('customerBetId')],
    orderingKey: 'betId',
    selection: withReason ? 'betId customerBetId reason' : 'betId customerBetId',
    description,
  };
}

/** PoolTotalChanged -> tote-pool-total-changed */
export function topicFor(messageType: string): string {
  return 'tote-' + messageType.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}

export const CATALOG: readonly CatalogEntry[] = Object.freeze([
  bet('onBetAccepted', 'BetAccepted', 'A partner bet was accepted by the Tote.'),
  bet('onBetRejected', 'BetRejected', 'A partner bet was rejected, with a reason.', true),
  bet('onBetFailed', 'BetFailed', 'A system error stopped a partner bet being placed.', true),
  bet('onBetCancelled', 'BetCancelled', 'A partner bet was cancelled.'),
  bet('onBetResulted', 'BetResulted', 'A partner bet was resulted (win or loss, with a return).'),
  bet('onBetSettled', 'BetSettled', 'A partner bet was settled (paid out).'),
  {
    rootField: 'onProductStatusChanged',
    messageType: 'ProductStatusChanged',
    family: 'product',
    topic: topicFor('ProductStatusChanged'),
    keys: [req('productId')],
    orderingKey: 'productId',
    selection: 'productId status',
    description: 'A betting product moved between statuses (open, closed, settled).',
  },
  {
    rootField: 'onSelectionStatusChanged',
    messageType: 'SelectionStatusChanged',
    family: 'selection',
    topic: topicFor('SelectionStatusChanged'),
    keys: [req('productId'), opt('legId'), req('selectionId')],
    orderingKey: 'productId',
    selection: 'productId legId selectionId status',
    description: 'A selection in a product leg changed availability.',
  },
  {
    rootField: 'onPoolTotalChanged',
    messageType: 'PoolTotalChanged',
    family: 'pool-total',
    topic: topicFor('PoolTotalChanged'),
    keys: [req('productId')],
    orderingKey: 'productId',
    selection: `productId isFinalized total { ${AMOUNTS} }`,
    description: 'A pool total changed; isFinalized marks the last total at the close.',
  },
  {
    rootField: 'onPoolDividendChanged',
    messageType: 'PoolDividendChanged',
    family: 'dividend',
    topic: topicFor('PoolDividendChanged'),
    keys: [req('productId')],
    orderingKey: 'productId',
    selection:
      'productId dividends { dividend { name type status amounts { ' + MONEY + ' } } legs { legId selections { id finishingPosition } } }',
    description: 'Dividends were declared or revised (provisional, then final).',
  },
  {
    rootField: 'onEventStatusChanged',
    messageType: 'EventStatusChanged',
    family: 'event',
    topic: topicFor('EventStatusChanged'),
    keys: [req('eventId')],
    orderingKey: 'eventId',
    selection: 'eventId status',
    description: 'A race moved between statuses (scheduled, started, finished...).',
  },
  {
    rootField: 'onEventResultChanged',
    messageType: 'EventResultChanged',
    family: 'result',
    topic: topicFor('EventResultChanged'),
    keys: [req('eventId')],
    orderingKey: 'eventId',
    selection: 'eventId competitorResults { competitorId finishingPosition status }',
    description: 'A race result was declared or revised (provisional, then final).',
  },
  {
    rootField: 'onEventUpdated',
    messageType: 'EventUpdated',
    family: 'event',
    topic: topicFor('EventUpdated'),
    keys: [req('eventId')],
    orderingKey: 'eventId',
    selection: 'eventId',
    description: 'Event details changed; refetch the event from the query API.',
  },
  {
    rootField: 'onCompetitorStatusChanged',
    messageType: 'CompetitorStatusChanged',
    family: 'competitor',
    topic: topicFor('CompetitorStatusChanged'),
    keys: [req('eventId'), req('competitorId')],
    orderingKey: 'eventId',
    selection: 'eventId competitorId status',
    description: 'A runner changed status (e.g. withdrawn as a non-runner).',
  },
  {
    rootField: 'onLinesChanged',
    messageType: 'LinesChanged',
    family: 'lines',
    topic: topicFor('LinesChanged'),
    keys: [req('productId')],
    orderingKey: 'productId',
    selection: 'productId',
    description: 'The odds lines of a product changed.',
  },
]);

/** Dead letters from the subscriber (bad frames, unroutable data) share one topic. */
export const DEAD_LETTER_TOPIC = 'tote-dead-letter';

/**
 * The day card (venue, race, product and runner names from Tote's query API),
 * fetched by the subscriber, which holds the API key, and published for the
 * SSE service, which must not hold it.
 */
export const DAY_CARD_TOPIC = 'tote-day-card';

const byRootField = new Map(CATALOG.map((e) => [e.rootField, e]));
const byMessageType = new Map(CATALOG.map((e) => [e.messageType, e]));

export function entryForRootField(rootField: string): CatalogEntry | undefined {
  return byRootField.get(rootField);
}

export function entryForMessageType(messageType: string): CatalogEntry | undefined {
  return byMessageType.get(messageType);
}

export const MESSAGE_TYPES: readonly string[] = CATALOG.map((e) => e.messageType);
export const TOPICS: readonly string[] = CATALOG.map((e) => e.topic);

/** The bundled subscription document for an entry (one root field per operation, as GraphQL requires). */
export function bundledDocument(entry: CatalogEntry): string {
  return documentFor(entry, entry.selection);
}

export function documentFor(entry: CatalogEntry, selection: string): string {
  const opName = entry.rootField[0]!.toUpperCase() + entry.rootField.slice(1);
  return `subscription ${opName} { ${entry.rootField} { ${selection} } }`;
}

/** snake_case column name of an entity key: productId -> product_id. */
export function keyColumn(key: EntityKey): string {
  return key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}
