import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Column } from '../../src/history/schema.js';

/**
 * A small stand-in for the BigQuery REST API (no emulator exists): the
 * endpoints the history writer and the replay command use, on a loopback
 * port, for the real @google-cloud/bigquery client (apiEndpoint).
 *
 * - POST .../tables/T/insertAll: validates each row against the table's
 *   schema like BigQuery (unknown field, missing required value, bad JSON or
 *   timestamp = reason "invalid"; with skipInvalidRows=false the others get
 *   "stopped"), and drops a row whose insertId it stored less than
 *   dedupeWindowMs ago (BigQuery's best-effort dedupe remembers an insertId
 *   for about a minute; after that a retry is stored again). Every drop is
 *   counted.
 * - GET .../datasets/D, .../tables/T, .../tables/T/data (tabledata.list).
 *
 * Every request is recorded. A fault plan decides, per insertAll request,
 * whether to answer normally or with a fault: an HTTP status, a hang (the
 * client times out), store-then-hang (stored, but the client never hears),
 * a reset socket, per-row errors, or a normal answer that is slow.
 */
export type Fault =
  | { kind: 'status'; status: number; reason?: string; message?: string }
  | { kind: 'hang' }
  | { kind: 'storeThenHang' }
  | { kind: 'reset' }
  | { kind: 'rowErrors'; errors: ReadonlyMap<number, string> }
  | { kind: 'slow'; ms: number };

export interface InsertRequestInfo {
  readonly table: string;
  readonly rows: readonly { insertId: string; json: Record<string, unknown> }[];
  /** 1-based count of insertAll requests so far. */
  readonly n: number;
}

export type FaultPlan = (req: InsertRequestInfo) => Fault | null;

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly table: string | null;
  readonly rows: readonly { insertId: string; json: Record<string, unknown> }[];
  readonly skipInvalidRows: boolean;
  readonly fault: Fault['kind'] | null;
  readonly bytes: number;
}

interface StoredRow {
  readonly insertId: string;
  readonly json: Record<string, unknown>;
}

export class FakeBigQuery {
  readonly requests: RecordedRequest[] = [];
  /** Per table, rows in arrival order, one per insertId. */
  readonly tables = new Map<string, StoredRow[]>();
  /** Per table, insertId -> when it was stored, oldest first; entries older than the window are pruned. */
  private readonly seen = new Map<string, Map<string, number>>();
  /** Rows that arrived again with an insertId already stored (the dedupe dropped them). */
  duplicatesDropped = 0;
  private faultPlan: FaultPlan = () => null;
  private inserts = 0;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly project: string,
    readonly dataset: string,
    private readonly schemas: Map<string, readonly Column[]>,
    private readonly dedupeWindowMs: number,
    private readonly now: () => number,
  ) {}

  /**
   * dedupeWindowMs: how long an insertId is remembered (default 60 s, like
   * BigQuery); now: the clock the window is measured on (default Date.now),
   * so a test can let a minute pass without waiting for it.
   */
  static async start(opts: {
    project: string;
    dataset: string;
    schemas: Record<string, readonly Column[]>;
    dedupeWindowMs?: number;
    now?: () => number;
  }): Promise<FakeBigQuery> {
    let fake: FakeBigQuery | undefined;
    const server = createServer((req, res) => void fake!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    fake = new FakeBigQuery(
      server,
      `http://127.0.0.1:${port}`,
      opts.project,
      opts.dataset,
      new Map(Object.entries(opts.schemas)),
      opts.dedupeWindowMs ?? 60_000,
      opts.now ?? Date.now,
    );
    server.on('connection', (s) => {
      fake.sockets.add(s);
      s.on('close', () => fake.sockets.delete(s));
    });
    return fake;
  }

  setFaults(plan: FaultPlan): void {
    this.faultPlan = plan;
  }

  setSchema(table: string, columns: readonly Column[]): void {
    this.schemas.set(table, columns);
  }

  rows(table: string): readonly StoredRow[] {
    return this.tables.get(table) ?? [];
  }

  /** insertAll requests held unanswered (hang faults) whose connection is still open: a client that gives up closes it. */
  get hungInserts(): number {
    return this.hung.size;
  }

  /** Client connections open on the stand-in. */
  get openSockets(): number {
    return this.sockets.size;
  }

  insertRequests(table?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.endsWith('/insertAll') && (!table || r.table === table));
  }

  async stop(): Promise<void> {
    for (const res of this.hung) res.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', this.url);
    const m = url.pathname.match(/^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)(?:\/tables\/([^/]+)(\/insertAll|\/data)?)?$/);
    const record = (extra: Partial<RecordedRequest>) =>
      this.requests.push({
        method: req.method ?? '',
        path: url.pathname,
        table: m?.[3] ?? null,
        rows: [],
        skipInvalidRows: false,
        fault: null,
        bytes: body.length,
        ...extra,
      });
    if (!m || m[1] !== this.project || m[2] !== this.dataset) {
      record({});
      return this.error(res, 404, 'notFound', `Not found: ${url.pathname}`);
    }
    const table = m[3];
    if (req.method === 'POST' && m[4] === '/insertAll' && table) return this.insertAll(table, body, res, record);
    if (req.method === 'GET' && m[4] === '/data' && table) {
      record({});
      return this.list(table, url, res);
    }
    if (req.method === 'GET' && table && !m[4]) {
      record({});
      const schema = this.schemas.get(table);
      if (!schema) return this.error(res, 404, 'notFound', `Not found: Table ${this.project}:${this.dataset}.${table}`);
      return this.json(res, 200, {
        kind: 'bigquery#table',
        id: `${this.project}:${this.dataset}.${table}`,
        tableReference: { projectId: this.project, datasetId: this.dataset, tableId: table },
        schema: { fields: schema.map((c) => ({ name: c.name, type: c.type, mode: c.mode })) },
      });
    }
    if (req.method === 'GET' && !table) {
      record({});
      return this.json(res, 200, { kind: 'bigquery#dataset', datasetReference: { projectId: this.project, datasetId: this.dataset } });
    }
    record({});
    return this.error(res, 400, 'invalid', `unsupported ${req.method} ${url.pathname}`);
  }

  private insertAll(table: string, body: Buffer, res: ServerResponse, record: (r: Partial<RecordedRequest>) => void): void {
    let parsed: { rows?: { insertId?: string; json?: Record<string, unknown> }[]; skipInvalidRows?: boolean };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      record({});
      return this.error(res, 400, 'invalid', 'body is not JSON');
    }
    const rows = (parsed.rows ?? []).map((r) => ({ insertId: r.insertId ?? '', json: r.json ?? {} }));
    const skipInvalidRows = parsed.skipInvalidRows === true;
    const fault = this.faultPlan({ table, rows, n: ++this.inserts });
    record({ rows, skipInvalidRows, fault: fault?.kind ?? null });
    if (fault?.kind === 'status') return this.error(res, fault.status, fault.reason ?? 'backendError', fault.message ?? 'injected failure');
    if (fault?.kind === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (fault?.kind === 'hang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    if (fault?.kind === 'slow') {
      setTimeout(() => this.answerInsert(table, rows, skipInvalidRows, null, res), fault.ms);
      return;
    }
    this.answerInsert(table, rows, skipInvalidRows, fault, res);
  }

  private answerInsert(
    table: string,
    rows: { insertId: string; json: Record<string, unknown> }[],
    skipInvalidRows: boolean,
    fault: Fault | null,
    res: ServerResponse,
  ): void {
    const schema = this.schemas.get(table);
    if (!schema) return this.error(res, 404, 'notFound', `Not found: Table ${this.project}:${this.dataset}.${table}`);
    const errors = new Map<number, { reason: string; message: string }>();
    rows.forEach((r, i) => {
      const injected = fault?.kind === 'rowErrors' ? fault.errors.get(i) : undefined;
      const problem = injected ? { reason: injected, message: `injected ${injected}` } : validate(schema, r.json);
      if (problem) errors.set(i, problem);
    });
    // Like BigQuery: without skipInvalidRows one invalid row stops the whole request.
    const anyInvalid = [...errors.values()].some((e) => e.reason === 'invalid');
    const insertErrors: { index: number; errors: { reason: string; message: string }[] }[] = [];
    rows.forEach((r, i) => {
      const e = errors.get(i);
      if (e) insertErrors.push({ index: i, errors: [e] });
      else if (anyInvalid && !skipInvalidRows) insertErrors.push({ index: i, errors: [{ reason: 'stopped', message: '' }] });
      else this.store(table, r);
    });
    if (fault?.kind === 'storeThenHang') {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    this.json(
      res,
      200,
      insertErrors.length ? { kind: 'bigquery#tableDataInsertAllResponse', insertErrors } : { kind: 'bigquery#tableDataInsertAllResponse' },
    );
  }

  private store(table: string, row: { insertId: string; json: Record<string, unknown> }): void {
    let seen = this.seen.get(table);
    if (!seen) this.seen.set(table, (seen = new Map()));
    const now = this.now();
    // Forget insertIds older than the window (the map is in storing order).
    for (const [id, at] of seen) {
      if (now - at < this.dedupeWindowMs) break;
      seen.delete(id);
    }
    if (row.insertId && seen.has(row.insertId)) {
      this.duplicatesDropped++;
      return;
    }
    if (row.insertId) seen.set(row.insertId, now);
    let rows = this.tables.get(table);
    if (!rows) this.tables.set(table, (rows = []));
    rows.push({ insertId: row.insertId, json: row.json });
  }

  private list(table: string, url: URL, res: ServerResponse): void {
    const schema = this.schemas.get(table);
    if (!schema) return this.error(res, 404, 'notFound', `Not found: Table ${table}`);
    const all = this.rows(table);
    const start = Number(url.searchParams.get('pageToken') ?? 0);
    const max = Number(url.searchParams.get('maxResults') ?? 1000);
    const page = all.slice(start, start + max);
    const int64Ts = url.searchParams.get('formatOptions.useInt64Timestamp') === 'true';
    const cell = (c: Column, v: unknown) => {
      if (v === null || v === undefined) return { v: null };
      if (c.type === 'TIMESTAMP') {
        const ms = Date.parse(String(v));
        return { v: int64Ts ? String(ms * 1000) : String(ms / 1000) };
      }
      return { v: String(v) };
    };
    this.json(res, 200, {
      kind: 'bigquery#tableDataList',
      totalRows: String(all.length),
      rows: page.map((r) => ({ f: schema.map((c) => cell(c, r.json[c.name])) })),
      ...(start + max < all.length ? { pageToken: String(start + max) } : {}),
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private error(res: ServerResponse, status: number, reason: string, message: string): void {
    this.json(res, status, { error: { code: status, message, errors: [{ reason, message, domain: 'global' }], status: reason } });
  }
}

/** BigQuery's checks on a streamed row, as far as the history tables need them. */
function validate(schema: readonly Column[], json: Record<string, unknown>): { reason: string; message: string } | null {
  const byName = new Map(schema.map((c) => [c.name, c]));
  for (const k of Object.keys(json)) {
    if (!byName.has(k)) return { reason: 'invalid', message: `no such field: ${k}.` };
  }
  for (const c of schema) {
    const v = json[c.name];
    if (v === null || v === undefined) {
      if (c.mode === 'REQUIRED') return { reason: 'invalid', message: `Missing required field: ${c.name}.` };
      continue;
    }
    // BigQuery text is UTF-8, which has no encoding for a lone UTF-16 surrogate: refused like invalid UTF-8.
    if (typeof v === 'string' && !v.isWellFormed()) return { reason: 'invalid', message: `${c.name} is not valid UTF-8` };
    if (c.type === 'JSON') {
      if (typeof v !== 'string') return { reason: 'invalid', message: `JSON column ${c.name} must be sent as JSON text` };
      let wellFormed = true;
      try {
        JSON.parse(v, (key, value: unknown) => {
          if (!key.isWellFormed() || (typeof value === 'string' && !value.isWellFormed())) wellFormed = false;
          return value;
        });
      } catch {
        return { reason: 'invalid', message: `Invalid JSON in ${c.name}` };
      }
      if (!wellFormed) return { reason: 'invalid', message: `Invalid JSON in ${c.name}: a string is not valid UTF-8` };
    }
    if (c.type === 'TIMESTAMP' && Number.isNaN(Date.parse(String(v)))) {
      return { reason: 'invalid', message: `Could not parse '${String(v)}' as a timestamp.` };
    }
    if (c.type === 'BOOLEAN' && typeof v !== 'boolean') return { reason: 'invalid', message: `${c.name} is not a boolean` };
  }
  return null;
}
