import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadConfig } from '../src/config/index.js';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import type { DayCard } from '../src/day-card/day-card.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the browser test cannot run: ${missing}`);

setLogWriter(() => {});

const card: DayCard = {
  events: [
    {
      id: 'ev-1',
      name: 'Kempton Novice Stakes',
      venue: 'KEMPTON PARK',
      scheduledStart: new Date(Date.now() + 3_600_000).toISOString(),
      status: 'SCHEDULED',
      competitors: [],
    },
  ],
  products: [{ id: 'pr-1', name: 'KEMPTON PARK 19:40 - WIN', betType: 'WIN', eventIds: ['ev-1'], status: 'OPEN', selections: [] }],
  truncated: false,
};

describe.skipIf(Boolean(missing))(`dashboard opened just before the day card arrives ${missing ? `(skipped: ${missing})` : ''}`, () => {
  const bus = new MemoryBus();
  let sse: SseService | undefined;
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
    await sse?.close();
    await bus.close();
  });

  it('still gets the names when the card is published before its stream opens', async () => {
    const config = loadConfig({ PORT: '0', SSE_FEED_WINDOW_START: '00:00', SSE_FEED_WINDOW_END: '00:00' });
    sse = await startSseService({ config: config.sse, source: bus, host: '127.0.0.1', log: createLogger({ test: 'browser-names-late' }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    const page = await browser.newPage();
    // Hold the snapshot (the page opens its stream only after it) and publish the
    // card meanwhile: the page has already read an empty /names, and the
    // `names` event goes out while it has no stream to hear it.
    let releaseSnapshot!: () => void;
    const held = new Promise<void>((r) => (releaseSnapshot = r));
    let namesReads = 0;
    await page.route('**/names', async (route) => {
      namesReads++;
      await route.continue();
    });
    await page.route('**/snapshot', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(sse.url + '/');
    await expect.poll(() => namesReads, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await bus.publishDayCard(card);
    await expect.poll(async () => (await (await fetch(`${sse!.url}/names`)).json()).version, { timeout: 5_000 }).toBeGreaterThanOrEqual(1);
    releaseSnapshot();
    await page.waitForFunction(() => (window as any).dashboard?.connection === 'open', null, { timeout: 10_000 });
    await page.waitForFunction(() => ((window as any).dashboard.state.names.version ?? 0) >= 1, null, { timeout: 5_000 });
    expect(await page.evaluate(() => (window as any).dashboard.state.names.events['ev-1']?.name)).toBe('Kempton Novice Stakes');
  });
});
