// The live connection: /snapshot first, then /events from the snapshot's id.
// EventSource reconnects by itself and sends Last-Event-ID; when the server
// answers with an error status EventSource gives up, so this retries itself
// with the last id it saw in the query string.

export class Feed {
  /**
   * @param {object} o
   * @param {string[]} o.messageTypes event names to listen for
   * @param {(snap: any) => void} o.onSnapshot
   * @param {(env: any) => void} o.onMessage
   * @param {(version: number) => void} o.onNames
   * @param {(state: 'connecting'|'open'|'reconnecting') => void} o.onState
   */
  constructor(o) {
    this.o = o;
    this.es = null;
    this.lastId = null;
    this.retryTimer = null;
    this.attempt = 0;
    this.connects = 0;
    this.resyncs = 0;
  }

  async start() {
    await this.loadSnapshot();
    this.open();
  }

  async loadSnapshot() {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch('snapshot', { cache: 'no-store' });
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        const snap = await res.json();
        this.o.onSnapshot(snap);
        // Only forward: during a resync the stream runs on and may already be past the snapshot.
        if (snap.lastEventId && (!this.lastId || snap.lastEventId > this.lastId)) this.lastId = snap.lastEventId;
        return;
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(10_000, 500 * 2 ** attempt)));
      }
    }
  }

  open() {
    const url = this.lastId ? `events?lastEventId=${encodeURIComponent(this.lastId)}` : 'events';
    this.o.onState(this.connects === 0 ? 'connecting' : 'reconnecting');
    const es = new EventSource(url);
    this.es = es;
    const onMessage = (ev) => {
      if (ev.lastEventId) this.lastId = ev.lastEventId;
      let env;
      try {
        env = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.o.onMessage(env);
    };
    for (const t of this.o.messageTypes) es.addEventListener(t, onMessage);
    es.addEventListener('resync', (ev) => {
      // Our last id is older than what this server can resume from: merge its current state (the stream
      // keeps running meanwhile, and the merge keeps what arrives). The frame's id moves Last-Event-ID on.
      if (ev.lastEventId) this.lastId = ev.lastEventId;
      this.resyncs++;
      void this.loadSnapshot();
    });
    es.addEventListener('names', (ev) => {
      try {
        this.o.onNames(JSON.parse(ev.data).version);
      } catch {
        /* a malformed control event changes nothing */
      }
    });
    es.onopen = () => {
      this.connects++;
      this.attempt = 0;
      this.o.onState('open');
    };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        this.o.onState('reconnecting');
        const delay = Math.min(15_000, 1000 * 2 ** this.attempt++) * (0.5 + Math.random() / 2);
        clearTimeout(this.retryTimer);
        this.retryTimer = setTimeout(() => this.open(), delay);
      } else {
        this.o.onState('reconnecting');
      }
    };
  }
}
