/**
 * Builds the published contract from the catalog and the JSON Schemas of the contract's types
 * (src/sse/contract/types.ts): one schema file per answer and event, one per message type (as it travels on
 * Pub/Sub and as the SSE stream carries it), the AsyncAPI document, and the Markdown page of docs/.
 *
 * Pure: the schemas of the types come in (scripts/contract.ts generates them with ts-json-schema-generator,
 * a development tool), so the SSE service never needs the generator to serve what it wrote.
 */
import { SEQ_ATTRIBUTE, SESSION_ATTRIBUTE } from '../../bus/publish-order.js';
import { CATALOG, DAY_CARD_TOPIC, DEAD_LETTER_TOPIC, ENTITY_KEYS, type CatalogEntry } from '../../catalog/catalog.js';

/** A JSON Schema (draft-07) as the generator writes it: `$ref`s point at `#/definitions/<Name>`. */
export type JsonSchema = { [key: string]: unknown };

/** The contract's root types, each generated into schemas/<Name>.json. */
export const CONTRACT_TYPES = [
  'Envelope',
  'StreamEnvelope',
  'SnapshotResponse',
  'NamesResponse',
  'SseStatus',
  'DashboardConfig',
  'ResyncEvent',
  'NamesEvent',
  'DeadLetter',
  'DayCard',
] as const;
export type ContractType = (typeof CONTRACT_TYPES)[number];

/** Where the files are served from, under the SSE service's root, and what the docs link to. */
export const CONTRACT_PATH = 'contract';

const DRAFT_07 = 'http://json-schema.org/draft-07/schema#';

/** The per-type constraint on an envelope: its type and root field are fixed, its required keys present. */
function typeConstraint(entry: CatalogEntry): JsonSchema {
  const required = entry.keys.filter((k) => k.required).map((k) => k.name);
  return {
    type: 'object',
    properties: {
      type: { const: entry.messageType },
      rootField: { const: entry.rootField },
      keys: { type: 'object', required, properties: Object.fromEntries(entry.keys.map((k) => [k.name, { type: 'string', minLength: 1 }])) },
    },
  };
}

function definitionsOf(schema: JsonSchema): Record<string, JsonSchema> {
  return (schema.definitions ?? {}) as Record<string, JsonSchema>;
}

/** A message type's envelope: the base envelope (with its definitions) narrowed to the entry. */
function envelopeSchemaFor(entry: CatalogEntry, base: JsonSchema, baseName: string, title: string): JsonSchema {
  return {
    $schema: DRAFT_07,
    title,
    description: entry.description,
    allOf: [{ $ref: `#/definitions/${baseName}` }, typeConstraint(entry)],
    definitions: definitionsOf(base),
  };
}

/** Rewrites `#/definitions/X` to where the AsyncAPI document keeps schemas. */
function toComponents<T>(value: T): T {
  return JSON.parse(JSON.stringify(value).replace(/"#\/definitions\//g, '"#/components/schemas/')) as T;
}

/** Pub/Sub attributes the subscriber sets on an envelope of this entry (src/bus/attributes.ts). */
function attributesSchema(entry: CatalogEntry): JsonSchema {
  const str = (description: string) => ({ type: 'string', description });
  const properties: Record<string, unknown> = {
    messageType: str('The message type, as the envelope’s `type`.'),
    envelopeId: str('The envelope id (UUIDv7).'),
    rootField: str('The GraphQL root field.'),
    receivedAt: str('ISO-8601 time the subscriber read the frame.'),
    source: str('Where the message came from, as the envelope’s `source`.'),
    delivery: {
      type: 'string',
      enum: ['live', 'reconciled'],
      description:
        '`reconciled` when the subscriber recovered the message from Tote’s query API after a reconnect; subscriptions can filter on it.',
    },
    test: { type: 'string', enum: ['true'], description: 'Present on test envelopes (POST /test-pubsub).' },
    [SESSION_ATTRIBUTE]: str(
      'The publishing subscriber instance’s session: random, one per publisher (so per lease holding). Absent from older publishers.',
    ),
    [SEQ_ATTRIBUTE]: {
      type: 'string',
      pattern: '^[1-9][0-9]*$',
      description:
        'The envelope’s number within its session, gapless from 1 in the order the subscriber received the messages, across every catalog topic: a reader holding every smaller number of the session has everything with a smaller id from it. Kept by a message replayed from the outbox.',
    },
  };
  for (const k of entry.keys) properties[k.name] = str(`Entity key${k.required ? '' : ', when the payload has it'}.`);
  return {
    type: 'object',
    required: [
      'messageType',
      'envelopeId',
      'rootField',
      'receivedAt',
      'source',
      ...entry.keys.filter((k) => k.required).map((k) => k.name),
    ],
    properties,
  };
}

export interface ContractFile {
  /** Path under the contract folder, e.g. `schemas/events/PoolTotalChanged.json`. */
  readonly path: string;
  readonly text: string;
}

export interface BuildOptions {
  /** Schemas generated from src/sse/contract/types.ts, by type name. */
  readonly schemas: Readonly<Record<ContractType, JsonSchema>>;
  /** The package version, the document's version. */
  readonly version: string;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** Every file of the contract, in a stable order. */
export function buildContract(o: BuildOptions): ContractFile[] {
  const files: ContractFile[] = [];
  for (const name of CONTRACT_TYPES) files.push({ path: `schemas/${name}.json`, text: json(o.schemas[name]) });
  for (const entry of CATALOG) {
    files.push({
      path: `schemas/envelopes/${entry.messageType}.json`,
      text: json(envelopeSchemaFor(entry, o.schemas.Envelope, 'Envelope', `${entry.messageType} on ${entry.topic}`)),
    });
    files.push({
      path: `schemas/events/${entry.messageType}.json`,
      text: json(envelopeSchemaFor(entry, o.schemas.StreamEnvelope, 'StreamEnvelope', `SSE event ${entry.messageType}`)),
    });
  }
  files.push({ path: 'asyncapi.json', text: json(asyncApi(o)) });
  return files;
}

/** The AsyncAPI 3.0 document: the SSE stream and every Pub/Sub topic the pipeline writes. */
export function asyncApi(o: BuildOptions): JsonSchema {
  const schemas: Record<string, unknown> = {};
  for (const name of CONTRACT_TYPES) {
    for (const [k, v] of Object.entries(definitionsOf(o.schemas[name]))) schemas[k] = toComponents(v);
  }
  const messages: Record<string, unknown> = {};
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const ref = (path: string) => ({ $ref: `#/${path}` });

  const streamMessages: Record<string, unknown> = {};
  for (const entry of CATALOG) {
    const constraint = toComponents(typeConstraint(entry));
    messages[`${entry.messageType}Event`] = {
      name: entry.messageType,
      title: `${entry.messageType} (SSE)`,
      summary: entry.description,
      contentType: 'application/json',
      payload: { allOf: [ref('components/schemas/StreamEnvelope'), constraint] },
      bindings: { http: { bindingVersion: '0.3.0' } },
    };
    messages[`${entry.messageType}Envelope`] = {
      name: entry.messageType,
      title: `${entry.messageType} (Pub/Sub)`,
      summary: entry.description,
      contentType: 'application/json',
      payload: { allOf: [ref('components/schemas/Envelope'), constraint] },
      headers: attributesSchema(entry),
      bindings: {
        googlepubsub: {
          bindingVersion: '0.2.0',
          attributes: { description: 'Pub/Sub attributes: see headers.' },
          orderingKey: `The envelope's ${entry.orderingKey}`,
        },
      },
    };
    streamMessages[entry.messageType] = ref(`components/messages/${entry.messageType}Event`);
    const channel = entry.topic;
    channels[channel] = {
      address: entry.topic,
      title: entry.topic,
      description: `Every ${entry.messageType} envelope, ordered by ${entry.orderingKey} when the publisher orders (PUBSUB_ORDERING).`,
      servers: [ref('servers/pubsub')],
      messages: { [entry.messageType]: ref(`components/messages/${entry.messageType}Envelope`) },
    };
    operations[`publish${entry.messageType}`] = {
      action: 'send',
      title: `Publish ${entry.messageType}`,
      summary: `The subscriber publishes each ${entry.messageType} it receives from Tote.`,
      channel: ref(`channels/${channel}`),
    };
  }
  messages.resync = {
    name: 'resync',
    title: 'resync',
    summary: 'The position asked for cannot be resumed here: reload /snapshot and merge it; the stream carries on live.',
    contentType: 'application/json',
    payload: ref('components/schemas/ResyncEvent'),
  };
  messages.names = {
    name: 'names',
    title: 'names',
    summary: 'The day card changed: GET /names when its version is newer than the one held.',
    contentType: 'application/json',
    payload: ref('components/schemas/NamesEvent'),
  };
  messages.deadLetter = {
    name: 'DeadLetter',
    title: 'Dead letter',
    summary: 'A frame or message that could not be routed or stored, with the reason and the raw text.',
    contentType: 'application/json',
    payload: ref('components/schemas/DeadLetter'),
  };
  messages.dayCard = {
    name: 'DayCard',
    title: 'Day card',
    summary: 'Venue, race, product and runner names of the day, fetched by the subscriber from Tote’s query API.',
    contentType: 'application/json',
    payload: ref('components/schemas/DayCard'),
    headers: {
      type: 'object',
      required: ['kind', 'fetchedAt'],
      properties: { kind: { const: 'day-card' }, fetchedAt: { type: 'string', description: 'ISO-8601 time of the fetch.' } },
    },
  };
  channels.events = {
    address: '/events',
    title: 'The live stream',
    description: [
      'text/event-stream. Each envelope is one event: `id:` the envelope id, `event:` the message type, `data:` one line of JSON.',
      'Query: `types` (message types), `productId`, `eventId` (each repeatable or comma-separated, at most 200 values);',
      '`lastEventId` (or the `Last-Event-ID` header, which wins) resumes after that id, or answers `resync`.',
    ].join(' '),
    servers: [ref('servers/sse')],
    messages: { ...streamMessages, resync: ref('components/messages/resync'), names: ref('components/messages/names') },
    bindings: { http: { bindingVersion: '0.3.0' } },
  };
  channels[DEAD_LETTER_TOPIC] = {
    address: DEAD_LETTER_TOPIC,
    title: DEAD_LETTER_TOPIC,
    servers: [ref('servers/pubsub')],
    messages: { deadLetter: ref('components/messages/deadLetter') },
  };
  channels[DAY_CARD_TOPIC] = {
    address: DAY_CARD_TOPIC,
    title: DAY_CARD_TOPIC,
    servers: [ref('servers/pubsub')],
    messages: { dayCard: ref('components/messages/dayCard') },
  };
  operations.streamEvents = {
    action: 'send',
    title: 'Stream the feed',
    summary: 'The SSE service sends every envelope that passes the stream’s filters, after replaying what a resuming client missed.',
    channel: ref('channels/events'),
  };
  operations.publishDeadLetter = { action: 'send', title: 'Publish a dead letter', channel: ref(`channels/${DEAD_LETTER_TOPIC}`) };
  operations.publishDayCard = { action: 'send', title: 'Publish the day card', channel: ref(`channels/${DAY_CARD_TOPIC}`) };

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Tote pipeline',
      version: o.version,
      description:
        'Real-time UK Tote pool-betting messages: the SSE stream served to browsers and partners, and the Pub/Sub topics the subscriber publishes (one per message type). ' +
        `Entity keys: ${ENTITY_KEYS.join(', ')}. Generated from the catalog and the code’s types; schemas also at ./schemas/.`,
      license: { name: 'MIT' },
    },
    defaultContentType: 'application/json',
    servers: {
      sse: {
        host: 'localhost:8080',
        protocol: 'http',
        description: 'The SSE service (locally `npm start`; in the cloud the tote-sse Cloud Run URL, https).',
      },
      pubsub: { host: 'pubsub.googleapis.com', protocol: 'googlepubsub', description: 'Google Cloud Pub/Sub in the deployment’s project.' },
    },
    channels,
    operations,
    components: { schemas, messages },
  };
}

/** The Markdown page of docs/: what each file is, generated with them so it cannot fall behind. */
export function contractPage(files: readonly ContractFile[], linkBase: string): string {
  const link = (p: string) => `[${p}](${linkBase}/${p})`;
  const rows = CATALOG.map(
    (e) =>
      `| ${e.messageType} | \`${e.topic}\` | ${e.keys.map((k) => (k.required ? `${k.name}*` : k.name)).join(', ')} | ${link(`schemas/events/${e.messageType}.json`)} | ${link(`schemas/envelopes/${e.messageType}.json`)} |`,
  );
  const answers: [string, string][] = [
    ['`GET /snapshot`', 'SnapshotResponse'],
    ['`GET /names`', 'NamesResponse'],
    ['`GET /status`', 'SseStatus'],
    ['`GET /config.json`', 'DashboardConfig'],
    ['SSE event `resync`', 'ResyncEvent'],
    ['SSE event `names`', 'NamesEvent'],
    [`\`${DEAD_LETTER_TOPIC}\``, 'DeadLetter'],
    [`\`${DAY_CARD_TOPIC}\``, 'DayCard'],
  ];
  const have = new Set(files.map((f) => f.path));
  return [
    '# The contract',
    '',
    '<!-- Generated by `npm run contract` from src/catalog/catalog.ts and src/sse/contract/types.ts; do not edit. -->',
    '',
    'The stream and the topics are published the way event-driven APIs are: an [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0)',
    `document, ${link('asyncapi.json')}, and a JSON Schema (draft-07) for every message and answer. The SSE service serves the same files`,
    `under \`/${CONTRACT_PATH}/\` (e.g. \`/${CONTRACT_PATH}/asyncapi.json\`). They are generated from the catalog and the code’s own types, and`,
    '`npm test` fails when they drift from them. Schemas allow properties they do not list: new fields may appear, none listed goes away',
    'without a note in the CHANGELOG.',
    '',
    '## Messages',
    '',
    'The SSE event data is the envelope without the pipeline’s socket and process ids; the Pub/Sub message is the whole envelope, with',
    'its type, id, time, source and entity keys also as attributes. Keys marked * are always present.',
    '',
    '| Message type | Topic | Keys | SSE event | Pub/Sub message |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
    '## Answers and control events',
    '',
    '| What | Schema |',
    '| --- | --- |',
    ...answers.map(([what, name]) => `| ${what} | ${have.has(`schemas/${name}.json`) ? link(`schemas/${name}.json`) : name} |`),
    `| Any envelope | ${link('schemas/Envelope.json')} (Pub/Sub), ${link('schemas/StreamEnvelope.json')} (SSE) |`,
    '',
    'How to use the stream (filters, resume, limits) and the typed client that speaks it are in [the SSE API](sse-api.md#the-client).',
    '',
  ].join('\n');
}
