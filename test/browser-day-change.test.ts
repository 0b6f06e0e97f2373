import { existsSync, mkdirSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { entryForMessageType } from '../src/catalog/catalog.js';
import { loadConfig } from '../src/config/index.js';
import { extractKeys, makeEnvelope, type Envelope } from '../src/envelope/envelope.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import type { DayCard } from '../src/day-card/day-card.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = 'test-artifacts';
const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the browser test cannot run: ${missing}`);

setLogWriter(() => {});

/** Noon UTC a day before now: on the previous calendar day in London whatever the hour of the run. */
function yesterdayNoon(): Date {
  const d = new Date(Date.now() - 86_400_000);
  d.setUTCHours(12, 0, 0, 0);
  return d;
}

function envelopeAt(type: string, payload: Record<string, unknown>, receivedAt: Date): Envelope {
  const entry = entryForMessageType(type)!;
  const keys = extractKeys(entry, payload);
  if (!keys.ok) throw new Error(`sample for ${type} misses keys`);
  const e = makeEnvelope(entry, payload, keys.keys, { source: 'test', protocol: 'graphql-ws', connectionId: 'c', instanceId: 'sub-1' });
  return { ...e, receivedAt: receivedAt.toISOString() };
}

function cardOf(eventId: string, productId: string, venue: string, start: Date): DayCard {
  return {
    events: [{ id: eventId, name: `${venue} Stakes`, venue, scheduledStart: start.toISOString(), status: 'SCHEDULED', competitors: [] }],
    products: [{ id: productId, name: 'Win', betType: 'WIN', eventIds: [eventId], status: 'OPEN', selections: [] }],
    truncated: false,
  };
}

describe.skipIf(Boolean(missing))(`dashboard kept open into the next racing day ${missing ? `(skipped: ${missing})` : ''}`, () => {
  const bus = new MemoryBus();
  let sse: SseService;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const board = () => page.locator('#board').innerHTML();

  beforeAll(async () => {
    const config = loadConfig({ PORT: '0', SSE_FEED_WINDOW_START: '00:00', SSE_FEED_WINDOW_END: '00:00' });
    await bus.publishDayCard(cardOf('ev-yesterday', 'pr-yesterday', 'Ascot', yesterdayNoon()));
    sse = await startSseService({ config: config.sse, source: bus, host: '127.0.0.1', log: createLogger({ test: 'browser-day-change' }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    await page.goto(sse.url + '/');
    await page.waitForFunction(() => (window as any).dashboard?.connection === 'open', null, { timeout: 20_000 });
  });

  afterAll(async () => {
    await browser?.close();
    await sse?.close();
    await bus.close();
  });

  it("drops yesterday's race and pool once the next day's card arrives, keeping today's unnamed product", async () => {
    const then = yesterdayNoon();
    await bus.publish(
      envelopeAt(
        'PoolTotalChanged',
        { productId: 'pr-yesterday', isFinalized: true, total: { grossAmounts: [{ decimalAmount: 4321, currency: { code: 'GBP' } }] } },
        then,
      ),
    );
    await bus.publish(envelopeAt('EventResultChanged', { eventId: 'ev-yesterday', competitorResults: [] }, then));
    await page.waitForFunction(() => (window as any).dashboard.state.events.has('ev-yesterday'), null, { timeout: 10_000 });
    await page.waitForSelector('[data-product="pr-yesterday"]', { timeout: 10_000 });

    // Today: a pool the card does not name yet, then the new day's card.
    await bus.publish(
      envelopeAt(
        'PoolTotalChanged',
        { productId: 'pr-unnamed-today', isFinalized: false, total: { grossAmounts: [{ decimalAmount: 10, currency: { code: 'GBP' } }] } },
        new Date(),
      ),
    );
    await page.waitForSelector('[data-product="pr-unnamed-today"]', { timeout: 10_000 });
    await bus.publishDayCard(cardOf('ev-today', 'pr-today', 'Kempton', new Date(Date.now() + 3_600_000)));

    await page.waitForSelector('[data-event="ev-today"]', { timeout: 10_000 });
    await page.waitForFunction(() => !document.querySelector('#board')!.innerHTML.includes('yesterday'), null, { timeout: 10_000 });
    const html = await board();
    expect(html).not.toContain('Ascot');
    expect(html).toContain('Not on the card yet');
    expect(html).toContain('data-product="pr-unnamed-today"');
    const held = await page.evaluate(() => {
      const s = (window as any).dashboard.state;
      return { products: [...s.products.keys()], events: [...s.events.keys()] };
    });
    expect(held).toEqual({ products: ['pr-unnamed-today'], events: [] });
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'live', null, { timeout: 10_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}/dashboard-next-day.png` });
    expect(pageErrors).toEqual([]);
  });
});
