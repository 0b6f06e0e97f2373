import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface Obj {
  data: Buffer;
  generation: number;
}

export interface FakeGcs {
  /** For STORAGE_EMULATOR_HOST / the objects client's endpoint. */
  readonly endpoint: string;
  /** Answer every request with `status` until cleared with null (an outage or a permissions change). */
  failWith(status: number | null): void;
  /** Objects as stored: name -> text. */
  objects(bucket: string): Map<string, string>;
  /** Requests answered, by method. */
  readonly requests: Record<string, number>;
  close(): Promise<void>;
}

/**
 * A small Cloud Storage JSON API stand-in with real generation semantics:
 * every write makes a new generation, and ifGenerationMatch (0 = must not
 * exist) is enforced with 412 as Cloud Storage does. Enough for media
 * download, media upload, delete and list.
 */
export async function startFakeGcs(): Promise<FakeGcs> {
  const buckets = new Map<string, Map<string, Obj>>();
  let nextGeneration = 1_700_000_000_000_000;
  let failing: number | null = null;
  const requests: Record<string, number> = {};
  const bucket = (b: string) => {
    let m = buckets.get(b);
    if (!m) buckets.set(b, (m = new Map()));
    return m;
  };
  const send = (res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
  };
  const error = (res: ServerResponse, status: number, message: string) => send(res, status, { error: { code: status, message } });
  const preconditionOk = (url: URL, obj: Obj | undefined) => {
    const want = url.searchParams.get('ifGenerationMatch');
    if (want === null) return true;
    return want === '0' ? !obj : obj !== undefined && String(obj.generation) === want;
  };
  const body = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    requests[req.method ?? '?'] = (requests[req.method ?? '?'] ?? 0) + 1;
    if (failing !== null) return error(res, failing, 'failing on demand');
    let m: RegExpExecArray | null;
    if (req.method === 'POST' && (m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname))) {
      const name = url.searchParams.get('name');
      if (url.searchParams.get('uploadType') !== 'media' || !name) return error(res, 400, 'only uploadType=media with a name');
      const objects = bucket(decodeURIComponent(m[1]!));
      const data = await body(req);
      if (!preconditionOk(url, objects.get(name))) return error(res, 412, 'conditionNotMet');
      const obj = { data, generation: nextGeneration++ };
      objects.set(name, obj);
      return send(res, 200, { name, bucket: m[1], generation: String(obj.generation), size: String(data.length) });
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname))) {
      const objects = bucket(decodeURIComponent(m[1]!));
      const name = decodeURIComponent(m[2]!);
      const obj = objects.get(name);
      if (req.method === 'GET') {
        if (!obj) return error(res, 404, 'No such object');
        if (url.searchParams.get('alt') === 'media') {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-goog-generation': String(obj.generation) });
          return res.end(obj.data);
        }
        return send(res, 200, { name, generation: String(obj.generation), size: String(obj.data.length) });
      }
      if (req.method === 'DELETE') {
        if (!obj) return error(res, 404, 'No such object');
        if (!preconditionOk(url, obj)) return error(res, 412, 'conditionNotMet');
        objects.delete(name);
        return send(res, 204);
      }
    }
    if (req.method === 'GET' && (m = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname))) {
      const prefix = url.searchParams.get('prefix') ?? '';
      const items = [...bucket(decodeURIComponent(m[1]!)).entries()]
        .filter(([n]) => n.startsWith(prefix))
        .map(([name, o]) => ({ name, generation: String(o.generation) }));
      return send(res, 200, { kind: 'storage#objects', items });
    }
    return error(res, 404, `no route ${req.method} ${url.pathname}`);
  };
  // A request that breaks the stand-in (a body cut off midway) answers 500 instead of an unhandled rejection.
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else error(res, 500, err instanceof Error ? err.message : String(err));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    failWith: (s) => {
      failing = s;
    },
    objects: (b) => new Map([...bucket(b).entries()].map(([n, o]) => [n, o.data.toString('utf8')])),
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
