import type { Envelope } from '../../src/envelope/envelope.js';
import { raceSettledChanges, type GapChange } from '../../src/simulator/index.js';
import { sellingStatusAt } from '../../src/simulator/race-status.js';
import type { ReconcilerStatus } from '../../src/subscriber/reconcile/reconciler.js';
import { waitFor } from '../helpers/ports.js';
import { startHarness, type Harness } from '../helpers/subscriber-harness.js';
import { duplicatesOf, feedRow, identity, rssSampler } from './parts.js';
import type { Row, Scenario } from './scenarios.js';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms)); // paces a feed; never used to wait for a result
const totalsOf = (h: Harness) => h.service.status().totals;
const reconciliationOf = (h: Harness) => h.service.status().reconciliation as ReconcilerStatus;
const isLive = (e: Envelope) => e.delivery !== 'reconciled';

/** Waits for the reconciliation run after `runs` to finish, and returns the status after it. */
function runAfter(h: Harness, runs: number, what: string): Promise<ReconcilerStatus> {
  return waitFor(
    () => {
      const r = reconciliationOf(h);
      return r.runs > runs && r.state !== 'running' && r.lastRun?.finishedAt ? r : null;
    },
    { timeoutMs: 60_000, what },
  );
}

/** An entity as the bus keys it: a runner is its race and competitor, everything else its product or event. */
function entityOfEnvelope(e: Envelope): string {
  const id = e.type === 'CompetitorStatusChanged' ? `${e.keys.eventId}/${e.keys.competitorId}` : (e.keys.productId ?? e.keys.eventId);
  return `${e.type}|${id}`;
}

const TYPE_OF: Record<string, string> = {
  onCompetitorStatusChanged: 'CompetitorStatusChanged',
  onEventStatusChanged: 'EventStatusChanged',
  onProductStatusChanged: 'ProductStatusChanged',
  onPoolTotalChanged: 'PoolTotalChanged',
  onEventResultChanged: 'EventResultChanged',
  onPoolDividendChanged: 'PoolDividendChanged',
};

function entityOfChange(c: GapChange): string {
  const p = c.payload;
  const id =
    c.rootField === 'onCompetitorStatusChanged' ? `${String(p.eventId)}/${String(p.competitorId)}` : String(p.productId ?? p.eventId);
  return `${TYPE_OF[c.rootField]}|${id}`;
}

/**
 * The state a user would see, compared here field by field rather than with
 * the reconciler's own comparison, so a fault there cannot hide a loss. The
 * gateway has no SETTLED nor isFinalized: those are not part of the state.
 */
function stateOf(type: string, p: Record<string, unknown>): string {
  switch (type) {
    case 'PoolTotalChanged':
      return String((p.total as { grossAmounts: { decimalAmount: number }[] } | undefined)?.grossAmounts[0]?.decimalAmount);
    case 'PoolDividendChanged':
      return JSON.stringify(
        ((p.dividends ?? []) as { dividend: { amounts: { decimalAmount: number }[] } }[])
          .map((d) => d.dividend.amounts[0]!.decimalAmount)
          .sort(),
      );
    case 'EventResultChanged':
      return JSON.stringify(
        ((p.competitorResults ?? []) as { competitorId: string; finishingPosition: string }[])
          .map((r) => `${r.competitorId}:${r.finishingPosition}`)
          .sort(),
      );
    default:
      return String(p.status === 'SETTLED' ? 'CLOSED' : p.status);
  }
}

/** Gap changes whose entity's last state on the bus is not the one announced. */
function missingFromBus(changes: readonly GapChange[], envelopes: readonly Envelope[]): string[] {
  const last = new Map<string, Envelope>();
  for (const e of envelopes) last.set(entityOfEnvelope(e), e);
  const out: string[] = [];
  for (const c of changes) {
    const entity = entityOfChange(c);
    const type = TYPE_OF[c.rootField]!;
    const ours = last.get(entity);
    if (!ours || stateOf(type, ours.payload) !== stateOf(type, c.payload)) out.push(entity);
  }
  return out;
}

export const changesDuringDisconnect: Scenario = {
  name: 'changes during a disconnect',
  short: true,
  async run(o) {
    const gaps = o.full ? 8 : 2;
    const perTick = 20;
    const ticks = o.full ? 20 : 5;
    // Mid-afternoon with the day's clock paused: markets are open and only the gaps change anything.
    const h = await startHarness({
      sim: { autoplay: false, startAt: '13:30', date: '2026-11-21' },
      graphqlUrl: 'sim',
      env: { TOTE_RECONCILE_SETTLE_MS: '50', TOTE_RECONCILE_MIN_GAP_MS: '0', TOTE_RECONCILE_REQUEST_GAP_MS: '0' },
    });
    const rss = rssSampler();
    try {
      h.service.client.start();
      const first = await runAfter(h, 0, 'the reconciliation on connect');
      if (!first.lastRun!.ok) throw new Error(`the reconciliation on connect failed: ${first.lastRun!.error ?? '?'}`);
      await waitFor(() => totalsOf(h).inFlight === 0, { what: 'the connect corrections published' });
      // What the connect run corrected is the day before we arrived: not counted as received or published here.
      const base = { ...totalsOf(h) };
      const plan = h.sim.plan();
      const races = plan.races.filter((r) => r.products.every((p) => sellingStatusAt(p, h.sim.simNow()) === 'OPEN')).slice(0, gaps);
      if (races.length < gaps) throw new Error(`only ${races.length} races open at 13:30, ${gaps} wanted`);
      const changes: GapChange[] = [];
      let live = 0;
      let runs = first.runs;
      let deliveredToNobody = 0;
      let alreadyKnown = 0;
      let corrections = 0;
      const feed = async () => {
        for (let i = 0; i < ticks; i++) {
          live += h.sim.faults.burst(perTick);
          await pause(100);
        }
      };
      for (const race of races) {
        await waitFor(() => h.service.client.status().state === 'running' && h.sim.stats().operations === 15, { what: 'connected' });
        await feed();
        const set = raceSettledChanges(plan, race);
        changes.push(...set);
        deliveredToNobody += set.length;
        // A change whose state the bus already carries (a runner withdrawn before we connected) is no news: not sent.
        alreadyKnown += set.length - missingFromBus(set, h.envelopes).length;
        const written = await h.sim.faults.changeWhileDisconnected(set, { holdMs: o.full ? 500 : 0 });
        if (written !== 0) throw new Error(`${written} gap changes reached a socket that outlived the gap`);
        const after = await runAfter(h, runs, 'the reconciliation after the gap');
        if (!after.lastRun!.ok || after.lastRun!.reason !== 'reconnect')
          throw new Error(`reconciliation after the gap: ${JSON.stringify(after.lastRun)}`);
        corrections += after.lastRun!.corrections;
        runs = after.runs;
      }
      // One more reconnect with nothing changed: anything it emits is a correction made twice.
      await waitFor(() => h.service.client.status().state === 'running' && h.sim.stats().operations === 15, { what: 'connected' });
      await feed();
      h.sim.faults.disconnectAll();
      const quiet = await runAfter(h, runs, 'the reconciliation after a quiet reconnect');
      await waitFor(
        () => totalsOf(h).received - base.received >= live + corrections + quiet.lastRun!.corrections && totalsOf(h).inFlight === 0,
        {
          timeoutMs: 60_000,
          what: 'every message and correction published',
        },
      );
      await h.service.stopAndFlush();
      const t = totalsOf(h);
      // The whole bus, the connect run's corrections included: a runner withdrawn before we arrived is
      // corrected on connect, and the gap announcing it again changes nothing on Tote's side.
      const all = h.envelopes;
      const reconciled = all.filter((e) => !isLive(e)).map((e) => `${entityOfEnvelope(e)}=${stateOf(e.type, e.payload)}`);
      const liveIds = new Set(all.filter(isLive).map(identity));
      const liveLost = Math.max(0, live - liveIds.size);
      const row: Row = {
        scenario: this.name,
        sent: live + deliveredToNobody - alreadyKnown,
        received: t.received - base.received,
        published: t.published - base.published,
        stored: null,
        deadLettered: t.deadLettered - base.deadLettered,
        lost: liveLost + missingFromBus(changes, all).length,
        duplicated: duplicatesOf(all.filter(isLive).map(identity)) + duplicatesOf(reconciled),
        peakRssMb: rss.stop(),
        note: `${races.length} races settled unseen (${deliveredToNobody} changes to no socket, ${alreadyKnown} of them already on the bus); ${corrections} corrections; quiet reconnect corrected ${quiet.lastRun!.corrections}`,
      };
      return row;
    } finally {
      rss.stop();
      await h.close();
    }
  },
};

const ZONE = 'Europe/London';

/** The zone's offset from UTC at `at`, in minutes. */
function offsetMinutes(at: Date, timeZone: string): number {
  const name = new Intl.DateTimeFormat('en-GB', { timeZone, timeZoneName: 'shortOffset' })
    .formatToParts(at)
    .find((p) => p.type === 'timeZoneName')!.value;
  const m = /GMT(?:([+-])(\d{1,2})(?::(\d{2}))?)?/.exec(name);
  if (!m || !m[1]) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] ?? 0));
}

/** The UTC instant of wall-clock `hhmm` on `date` (YYYY-MM-DD) in the zone. */
function instantOf(date: string, hhmm: string, timeZone: string): Date {
  const [y, mo, d] = date.split('-').map(Number);
  const [hh, mm] = hhmm.split(':').map(Number);
  const wall = Date.UTC(y!, mo! - 1, d, hh, mm);
  let at = wall;
  for (let i = 0; i < 2; i++) at = wall - offsetMinutes(new Date(at), timeZone) * 60_000;
  return new Date(at);
}

/** The days of `year` on which the zone's offset changes, found from the zone's rules rather than written down. */
export function offsetChangeDays(year: number, timeZone: string): string[] {
  const days: string[] = [];
  for (let t = Date.UTC(year, 0, 1); t < Date.UTC(year + 1, 0, 1); t += 86_400_000) {
    if (offsetMinutes(new Date(t), timeZone) !== offsetMinutes(new Date(t + 86_400_000 - 1), timeZone)) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
  }
  return days;
}

const dayAfter = (date: string, n: number) => new Date(Date.parse(`${date}T12:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);

export const dstWindowEdges: Scenario = {
  name: 'DST days at the window edges',
  short: true,
  async run(o) {
    const year = 2026;
    const changeDays = offsetChangeDays(year, ZONE);
    if (changeDays.length !== 2) throw new Error(`expected two offset changes in ${year} for ${ZONE}, found ${changeDays.join(', ')}`);
    // The full form also runs the day either side, so the table shows the instants moving by an hour.
    const days = o.full ? changeDays.flatMap((d) => [dayAfter(d, -1), d, dayAfter(d, 1)]) : changeDays;
    const EDGE_MS = 30_000;
    let clock = new Date(instantOf(days[0]!, '06:00', ZONE).getTime() - EDGE_MS);
    let reads = 0;
    const h = await startHarness({
      env: { SUBSCRIBER_AUTO_START: 'true' }, // 06:00–23:00 Europe/London by default
      service: {
        now: () => {
          reads++;
          return clock;
        },
        windowCheckMs: 50,
      },
    });
    const rss = rssSampler();
    /** Lets the window check look at the clock a few times, counted by its reads rather than by waiting a while. */
    const checks = async (n: number) => {
      const target = reads + n;
      await waitFor(() => reads >= target, { what: `${n} window checks` });
    };
    const state = () => `${h.service.client.status().state}, ${h.sim.connections()} sockets`;
    const breaches: string[] = [];
    const stops: string[] = [];
    let sent = 0;
    try {
      for (const day of days) {
        const open = instantOf(day, '06:00', ZONE);
        const close = instantOf(day, '23:00', ZONE);
        clock = new Date(open.getTime() - EDGE_MS);
        await checks(4);
        if (h.sim.connections() !== 0) breaches.push(`${day}: connected before 06:00 local (${state()})`);
        clock = new Date(open.getTime() + EDGE_MS);
        await waitFor(() => h.service.client.status().state === 'running' && h.sim.stats().operations === 15, {
          what: () => `${day}: connected at 06:00 local (${open.toISOString()}); ${state()}`,
        });
        for (let i = 0; i < (o.full ? 20 : 5); i++) {
          sent += h.sim.faults.burst(20);
          await pause(100);
        }
        clock = new Date(close.getTime() - EDGE_MS);
        await checks(4);
        if (h.service.client.status().state !== 'running') breaches.push(`${day}: stopped before 23:00 local (${state()})`);
        sent += h.sim.faults.burst(20);
        const expected = sent;
        // Written to the open socket before the edge: all of it must be in before the stop is judged.
        await waitFor(() => totalsOf(h).received === expected, { what: () => `${day}: ${totalsOf(h).received} of ${expected} received` });
        clock = new Date(close.getTime() + EDGE_MS);
        await waitFor(() => h.service.client.status().state === 'stopped' && h.sim.connections() === 0, {
          what: () => `${day}: stopped at 23:00 local (${close.toISOString()}); ${state()}`,
        });
        const t = totalsOf(h);
        if (t.received !== t.published || t.inFlight !== 0)
          breaches.push(`${day}: at the stop received ${t.received}, published ${t.published}, in flight ${t.inFlight}`);
        stops.push(`${day} ${open.toISOString().slice(11, 16)}–${close.toISOString().slice(11, 16)}Z`);
      }
      if (breaches.length) throw new Error(breaches.join('; '));
      return feedRow(this.name, sent, h, rss.stop(), `flushed stop each day; window in UTC: ${stops.join(', ')}`);
    } finally {
      rss.stop();
      await h.close();
    }
  },
};
