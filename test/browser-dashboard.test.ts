import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startLocalPipeline, type LocalPipeline } from '../src/main.js';
import { dividendLines } from '../src/simulator/dividends.js';
import { poolDividend } from '../src/simulator/payloads.js';
import { waitFor } from './helpers/ports.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the browser test cannot run: ${missing}`);

setLogWriter(() => {});

describe.skipIf(Boolean(missing))(`dashboard in headless Chromium ${missing ? `(skipped: ${missing})` : ''}`, () => {
  let pipeline: LocalPipeline;
  let browser: Browser;
  let page: Page;
  const onBus: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    pipeline = await startLocalPipeline({
      host: '127.0.0.1',
      log: createLogger({ test: 'browser' }),
      env: {
        PORT: '0',
        SUBSCRIBER_PORT: '0',
        HISTORY: 'none',
        SIM_SPEED: '60',
        // Short stream lives: the server cuts every stream every few seconds, as Cloud Run does hourly.
        SSE_MAX_CONNECTION_MS: '3000',
        SSE_RETRY_MS: '300',
        SSE_HEARTBEAT_MS: '1000',
        SSE_STALE_AFTER_MS: '2000',
        // All day, so "stale" can show whatever time the test runs.
        SSE_FEED_WINDOW_START: '00:00',
        SSE_FEED_WINDOW_END: '00:00',
      },
    });
    pipeline.bus!.subscribe((e: Envelope) => {
      onBus.push(e.id);
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/Failed to load resource|ERR_INCOMPLETE_CHUNKED_ENCODING|net::/.test(m.text()))
        pageErrors.push(m.text());
    });
    await page.goto(pipeline.sseUrl + '/');
  });

  afterAll(async () => {
    await browser?.close();
    await pipeline?.close();
  });

  it('shows the day by meeting and race with names from the day card the subscriber publishes on the bus, live', async () => {
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'live', null, { timeout: 20_000 });
    await page.waitForSelector('.meeting .race .pools .product', { timeout: 20_000 });
    const venues = await page.locator('.meeting h2').allInnerTexts();
    const card = pipeline.simulator!.plan();
    const planned = new Set(card.races.map((r) => r.venue.name));
    expect(venues.length).toBeGreaterThanOrEqual(2);
    for (const v of venues) expect([...planned].some((p) => v.startsWith(p))).toBe(true);
    // Race names come from the gateway, not ids.
    const firstRace = await page.locator('.race h3').first().innerText();
    expect(card.races.map((r) => r.name)).toContain(firstRace);
    expect(pageErrors).toEqual([]);
  });

  it('updates pool totals as they change and moves the rate chart', async () => {
    const before = await page.evaluate(() => {
      const d = (window as any).dashboard;
      const rows = Array.from(document.querySelectorAll<HTMLElement>('.product')).filter((r) => r.querySelector('.p-OPEN'));
      return {
        gross: Object.fromEntries(rows.map((r) => [r.dataset.product, r.querySelector('.gross')!.textContent])),
        received: d.state.received,
        chart: (document.querySelector('#rate-chart') as HTMLCanvasElement).toDataURL(),
      };
    });
    expect(Object.keys(before.gross).length).toBeGreaterThan(0);
    await page.waitForFunction(
      (prev: Record<string, string>) =>
        Array.from(document.querySelectorAll<HTMLElement>('.product')).some(
          (r) => r.dataset.product! in prev && r.querySelector('.gross')!.textContent !== prev[r.dataset.product!],
        ),
      before.gross,
      { timeout: 20_000 },
    );
    await page.waitForFunction((n: number) => (window as any).dashboard.state.received > n + 20, before.received, { timeout: 20_000 });
    await page.waitForFunction(
      (prev: string) => (document.querySelector('#rate-chart') as HTMLCanvasElement).toDataURL() !== prev,
      before.chart,
      { timeout: 10_000 },
    );
    const legend = await page.locator('#rate-legend li').allInnerTexts();
    expect(legend.some((l) => l.includes('PoolTotalChanged'))).toBe(true);
  });

  it('survives server-side disconnects without losing an event', async () => {
    await page.waitForFunction(() => (window as any).dashboard.feed.connects >= 3, null, { timeout: 30_000 });
    // Let a few more messages arrive after the last reconnect, then compare with everything the bus carried.
    const mark = onBus.length;
    await waitFor(() => onBus.length > mark + 10, { timeoutMs: 20_000, what: 'more messages' });
    const lastOnBus = onBus[onBus.length - 1]!;
    await page.waitForFunction((id: string) => (window as any).dashboard.state.seen.has(id), lastOnBus, { timeout: 20_000 });
    const received: string[] = await page.evaluate(() => (window as any).dashboard.state.receivedIds);
    const got = new Set(received);
    const start = onBus.indexOf(received[0]!);
    expect(start).toBeGreaterThanOrEqual(0);
    const expected = onBus.slice(start, onBus.indexOf(lastOnBus) + 1);
    const lost = expected.filter((id) => !got.has(id));
    expect(lost).toEqual([]);
    expect(expected.length).toBeGreaterThan(50);
    // The server cuts every stream every 2.4–3 s here, so the pill is briefly
    // "Reconnecting" by design; what matters is that it comes back live.
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'live', null, { timeout: 5_000 });
  });

  it('keeps its state when a resync snapshot comes from a fresh instance that has seen little of the day', async () => {
    const after = await page.evaluate(async () => {
      const d = (window as any).dashboard;
      const count = () => ({
        products: d.state.products.size,
        pools: [...d.state.products.values()].filter((p: any) => p.pool).length,
        declared: d.state.declared.length,
      });
      const before = count();
      const [id, p] = [...d.state.products.entries()].find(([, p]: any) => p.pool)!;
      // A fresh instance knows one older pool total of this product and nothing else.
      const older = { ...p.pool, id: '00000000-0000-7000-8000-000000000000', payload: { stale: true } };
      d.state.loadSnapshot({ products: { [id]: { pool: older, selections: {} } }, events: {}, lastEventId: null });
      return { before, after: count(), keptNewer: d.state.products.get(id).pool.id === p.pool.id };
    });
    expect(after.before.pools).toBeGreaterThan(0);
    expect(after.after.products).toBeGreaterThanOrEqual(after.before.products);
    expect(after.after.pools).toBe(after.before.pools);
    expect(after.after.declared).toBe(after.before.declared);
    expect(after.keptNewer).toBe(true);
  });

  it('shows the feed as stale when messages stop, and live again when they resume', async () => {
    pipeline.simulator!.pause();
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'stale', null, { timeout: 15_000 });
    expect(await page.locator('#health-text').innerText()).toMatch(/no messages for \d+ s/);
    pipeline.simulator!.play();
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'live', null, { timeout: 15_000 });
  });

  it("names runners by cloth number and name: the non-runner, a result and a dividend's winning selections", async () => {
    const sim = pipeline.simulator!;
    const card = sim.plan();
    const race = card.races[0]!;
    const runner = (i: number) => `${race.runners[i]!.clothNumber} ${race.runners[i]!.name}`;
    const inRace = (sel: string) => page.locator(`.race[data-event="${race.id}"] ${sel}`);
    // The day's first race loses a runner minutes after its market opens (seconds at this speed).
    await inRace('.nr .runner').first().waitFor({ timeout: 20_000 });
    expect(await inRace('.nr .runner').allInnerTexts()).toEqual(race.fate.nonRunners.map((n) => runner(n.runner)));
    expect(await inRace('.nr code').count()).toBe(0);

    // Declared now rather than at the race's finish a minute away: the feed carries ids only, names come from the card.
    const order = race.fate.order;
    sim.emit('onEventResultChanged', {
      eventId: race.id,
      competitorResults: order.map((r, i) => ({
        competitorId: race.runners[r]!.id,
        finishingPosition: String(i + 1),
        status: 'PROVISIONAL',
      })),
    });
    const exacta = race.products.find((p) => p.betType === 'EXACTA')!;
    sim.emit('onPoolDividendChanged', poolDividend(exacta, 'PROVISIONAL', dividendLines(exacta, card.races)));
    await inRace('.result .runner').first().waitFor({ timeout: 10_000 });
    expect(await inRace('.result .runner').allInnerTexts()).toEqual(order.slice(0, 3).map(runner));
    const declared = page.locator('#declared li', { has: page.locator('.t-div') }).first();
    await declared.locator('.dl .runner').first().waitFor({ timeout: 10_000 });
    expect(await declared.locator('.dl .runner').allInnerTexts()).toEqual([runner(order[0]!), runner(order[1]!)]);
    expect(
      await page
        .locator('#declared li', { has: page.locator('.t-result') })
        .first()
        .locator('.runner')
        .allInnerTexts(),
    ).toEqual(order.slice(0, 3).map(runner));
    expect(pageErrors).toEqual([]);
  });

  it('filters by meeting and product type, and saves a screenshot', async () => {
    const venue = (await page.locator('#filter-meeting option').nth(1).getAttribute('value'))!;
    await page.selectOption('#filter-meeting', venue);
    await page.waitForFunction(
      (v: string) => Array.from(document.querySelectorAll('.meeting')).every((m) => (m as HTMLElement).dataset.venue === v),
      venue,
    );
    await page.locator('#filter-types .chip', { hasText: 'WIN' }).first().click();
    await page.waitForFunction(() => Array.from(document.querySelectorAll('.race .ptype')).every((c) => c.textContent.trim() === 'Win'));
    await page.selectOption('#filter-meeting', '');
    await page.locator('#filter-types .chip.on').click();
    await page.waitForFunction(() => document.querySelectorAll('.meeting').length > 1);
    // Into the run's own temporary folder, never the checkout.
    const path = join(mkdtempSync(join(tmpdir(), 'dashboard-')), 'dashboard.png');
    await page.screenshot({ path });
    console.log(`screenshot: ${path}`);
    expect(existsSync(path)).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
