// Wires the dashboard together: config, names, snapshot, the live feed, and
// the timers that keep countdowns, health and the chart moving.
import { announcement, filterChoices, renderBoard, renderDeclared } from './board.js';
import { RateChart } from './chart.js';
import { ago, esc, hhmm, inWindow, money } from './format.js';
import { ToteFeed } from './client/feed.js';
import { DayState } from './state.js';

const $ = (id) => document.getElementById(id);

/** Built once /config.json has given the server's rules and caps. */
let state;
const chart = new RateChart($('rate-chart'), $('rate-legend'));
const filters = { meeting: '', types: new Set(), hideDone: false, openFolds: new Set() };
let config = {
  staleAfterMs: 30_000,
  feedWindow: { start: '06:00', end: '23:00', timeZone: 'Europe/London' },
  messageTypes: [],
  names: true,
};
let connection = 'connecting';
let serverStatus = null;
let dirty = true;
let feed;

function forgetPastDays() {
  state.prune(Date.now(), config.feedWindow.timeZone);
  dirty = true;
}

async function getJson(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return res.json();
}

async function loadNames() {
  try {
    const names = await getJson('names');
    if (names.version >= (state.names.version ?? 0)) {
      state.setNames(names);
      // A new day's card replaces the names: what was on no card of today goes with it.
      forgetPastDays();
    }
    const note = $('names-note');
    if (!config.names) note.textContent = 'Names are not configured: ids are shown.';
    else if (names.error) note.textContent = `Names unavailable (${names.error}); showing ids until they load.`;
    else note.textContent = '';
    refreshFilterChoices();
    dirty = true;
  } catch {
    /* the next names event or refresh tries again */
  }
}

function refreshFilterChoices() {
  const { venues, types } = filterChoices(state);
  const sel = $('filter-meeting');
  const current = sel.value;
  sel.innerHTML = '<option value="">All meetings</option>' + venues.map((v) => `<option value="${esc(v)}">${esc(v)}</option>`).join('');
  sel.value = venues.includes(current) ? current : '';
  const chips = $('filter-types');
  chips.innerHTML = types
    .map(
      (t) =>
        `<button type="button" class="chip${filters.types.has(t) ? ' on' : ''}" aria-pressed="${filters.types.has(t)}" data-type="${esc(t)}">${esc(t)}</button>`,
    )
    .join('');
}

function wireFilters() {
  $('filter-meeting').addEventListener('change', (e) => {
    filters.meeting = e.target.value;
    dirty = true;
  });
  $('filter-types').addEventListener('click', (e) => {
    const t = e.target.closest('button')?.dataset.type;
    if (!t) return;
    if (filters.types.has(t)) filters.types.delete(t);
    else filters.types.add(t);
    // The chip shows the filter's state, whatever happened to the element in between.
    const on = filters.types.has(t);
    e.target.closest('button').classList.toggle('on', on);
    e.target.closest('button').setAttribute('aria-pressed', String(on));
    dirty = true;
  });
  // The board is redrawn often: remember which "Earlier races" folds the operator opened.
  $('board').addEventListener(
    'toggle',
    (e) => {
      const d = e.target;
      if (!(d instanceof HTMLDetailsElement) || !d.dataset.venue) return;
      if (d.open) filters.openFolds.add(d.dataset.venue);
      else filters.openFolds.delete(d.dataset.venue);
    },
    true,
  );
  $('filter-hide-done').addEventListener('change', (e) => {
    filters.hideDone = e.target.checked;
    dirty = true;
  });
}

/** Screen readers hear each result and dividend as it is declared; the region keeps the last few. */
const ANNOUNCEMENTS_KEPT = 5;
function announce(text) {
  if (!text) return;
  const region = $('announce');
  const p = document.createElement('p');
  p.textContent = text;
  region.append(p);
  while (region.childElementCount > ANNOUNCEMENTS_KEPT) region.firstElementChild.remove();
}

/** Silence after which "Live" says how long it has been quiet (a lull between races is normal). */
const QUIET_AFTER_MS = 60_000;

function health(now) {
  const el = $('health');
  const text = $('health-text');
  const w = config.feedWindow;
  const inside = inWindow(hhmm(now, w.timeZone), w.start, w.end);
  const silentFor = state.lastMessageAt ? now - state.lastMessageAt : null;
  let cls;
  let label;
  if (connection !== 'open') {
    cls = 'health-down';
    label = connection === 'connecting' ? 'Connecting…' : 'Reconnecting… (will resume where it left off)';
  } else if (inside && (silentFor === null ? now - openedAt > config.staleAfterMs : silentFor > config.staleAfterMs)) {
    cls = 'health-stale';
    label = `Stale · no messages for ${Math.round((silentFor ?? now - openedAt) / 1000)} s`;
  } else if (!inside) {
    cls = 'health-quiet';
    label = `Connected · outside racing hours (${w.start}–${w.end})`;
  } else {
    cls = 'health-live';
    label = silentFor !== null && silentFor > QUIET_AFTER_MS ? `Live · quiet for ${ago(silentFor).replace(' ago', '')}` : 'Live';
  }
  el.className = `health ${cls}`;
  el.dataset.state = cls.replace('health-', '');
  text.textContent = label;
  // What is on screen is only as fresh as the feed: dim it, and say since when, while the feed is down or stale.
  const notLive = cls === 'health-down' || cls === 'health-stale';
  document.body.classList.toggle('not-live', notLive);
  const note = $('stale-note');
  if (notLive && !note.dataset.since) note.dataset.since = state?.lastMessageAt ? hhmm(state.lastMessageAt, w.timeZone) : '';
  if (!notLive) delete note.dataset.since;
  note.hidden = !notLive;
  note.textContent = notLive
    ? `Not live${note.dataset.since ? `: last message at ${note.dataset.since}` : ''}. Pools, statuses and figures below may be out of date.`
    : '';
}

function kpis(now) {
  let open = 0;
  const gross = new Map();
  for (const [id, p] of state.products) {
    if (state.productStatus(id) !== 'OPEN') continue;
    open++;
    const m = p.pool?.payload?.total?.grossAmounts?.[0];
    if (m && typeof m.decimalAmount === 'number') {
      const code = m.currency?.code ?? 'GBP';
      gross.set(code, (gross.get(code) ?? 0) + m.decimalAmount);
    }
  }
  $('kpi-open').textContent = String(open);
  $('kpi-gross').textContent = gross.size ? [...gross].map(([c, v]) => money(v, c, true)).join(' + ') : '–';
  $('kpi-rate').textContent = String(chart.recent(60, now));
  $('kpi-last').textContent = state.lastMessageAt ? ago(now - state.lastMessageAt) : 'none yet';
  const lag = serverStatus?.lagMs?.p50;
  $('kpi-lag').textContent = typeof lag === 'number' ? `${Math.round(lag)} ms` : '–';
}

function feedDetails() {
  const s = serverStatus;
  const src = s?.source ?? {};
  const rows = [
    ['Stream', connection === 'open' ? 'connected' : connection],
    ['Received here', `${state.received}${state.duplicates ? ` (${state.duplicates} repeats dropped)` : ''}`],
    ['Reconnects', String(Math.max(0, (feed?.connects ?? 1) - 1)) + (feed?.resyncs ? `, ${feed.resyncs} resync` : '')],
    ['Source', src.kind ? `${src.kind} · ${src.state}` : '–'],
    ['Lag p50 / p99', s?.lagMs ? `${fmtMs(s.lagMs.p50)} / ${fmtMs(s.lagMs.p99)}` : '–'],
    ['Viewers', s ? String(s.connections) : '–'],
    ['Slow viewers dropped', s ? String(s.droppedSlowClients) : '–'],
    ['Names', s?.names?.enabled ? `${s.names.events} races, ${s.names.products} products` : 'off'],
    ['Runners named', s?.names?.enabled ? String(s.names.competitors ?? 0) : '–'],
  ];
  $('feed-details').innerHTML = rows.map(([k, v]) => `<div><dt>${esc(k)}</dt><dd>${esc(v)}</dd></div>`).join('');
}

const fmtMs = (v) => (typeof v === 'number' ? `${Math.round(v)} ms` : '–');

function render() {
  const now = Date.now();
  const tz = config.feedWindow.timeZone;
  $('board').innerHTML = renderBoard(state, filters, now, tz);
  $('declared').innerHTML = renderDeclared(state, tz);
  dirty = false;
}

let openedAt = Date.now();

async function main() {
  wireFilters();
  feed = new ToteFeed({
    // The config carries the server's rules and caps; the page's state is built from them.
    store: (served) => {
      config = { ...config, ...served };
      state = new DayState(served);
      // Names while the snapshot loads; the stream's open reads them again, for a card sent meanwhile.
      void loadNames();
      return state;
    },
    onSnapshot: () => {
      // A server up since yesterday may still hold yesterday in its snapshot.
      forgetPastDays();
    },
    onMessage: (env) => {
      chart.record(env.type);
      dirty = true;
      if (env.type === 'EventResultChanged' || env.type === 'PoolDividendChanged')
        announce(announcement(state, env, config.feedWindow.timeZone));
    },
    onNames: (version) => {
      if (version > (state.names.version ?? 0)) void loadNames();
    },
    onState: (s) => {
      if (s === 'open' && connection !== 'open') {
        openedAt = Date.now();
        // A `names` event sent while the stream was down (or not yet open) is
        // lost; reading /names again on every open closes that gap.
        if (state) void loadNames();
      }
      connection = s;
    },
  });
  await feed.start();
  $('today').textContent = new Intl.DateTimeFormat('en-GB', {
    timeZone: config.feedWindow.timeZone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
  }).format(new Date());

  // Repaint at most four times a second however fast messages come.
  setInterval(() => {
    if (dirty) render();
  }, 250);
  setInterval(() => {
    const now = Date.now();
    health(now);
    kpis(now);
    chart.draw(now);
    feedDetails();
    dirty = true; // countdowns and highlights move with the clock
  }, 1000);
  // Also when no new card comes: anything unchanged for a day is let go.
  setInterval(forgetPastDays, 60_000);
  const poll = async () => {
    try {
      serverStatus = await getJson('status');
    } catch {
      /* shown as unknown */
    }
    feedDetails();
  };
  setTimeout(() => void poll(), 1000); // once the stream is registered, so the viewer count includes this page
  setInterval(() => void poll(), 10_000);
  health(Date.now());
  render();
}

// Read-only handle for operators' consoles and the browser tests.
window.dashboard = {
  get state() {
    return state;
  },
  chart,
  get connection() {
    return connection;
  },
  get feed() {
    return feed;
  },
};

void main();
