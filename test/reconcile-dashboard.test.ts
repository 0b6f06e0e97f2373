import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, setLogWriter } from '../src/log/logger.js';
import { startLocalPipeline, type LocalPipeline } from '../src/main.js';
import { raceSettledChanges } from '../src/simulator/index.js';
import { waitFor } from './helpers/ports.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the browser test cannot run: ${missing}`);

setLogWriter(() => {});

describe.skipIf(Boolean(missing))(`dashboard after a disconnect ${missing ? `(skipped: ${missing})` : ''}`, () => {
  let pipeline: LocalPipeline;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    pipeline = await startLocalPipeline({
      host: '127.0.0.1',
      log: createLogger({ test: 'reconcile-dashboard' }),
      env: {
        PORT: '0',
        SUBSCRIBER_PORT: '0',
        HISTORY: 'none',
        SIM_SPEED: '1',
        TOTE_RECONCILE_SETTLE_MS: '50',
        TOTE_RECONCILE_MIN_GAP_MS: '0',
        SSE_FEED_WINDOW_START: '00:00',
        SSE_FEED_WINDOW_END: '00:00',
      },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    await page.goto(pipeline.sseUrl + '/');
  });

  afterAll(async () => {
    await browser?.close();
    await pipeline?.close();
  });

  it('shows the result and dividends Tote declared while the feed was down, marked as corrected', async () => {
    await page.waitForFunction(() => document.querySelector('#health')?.getAttribute('data-state') === 'live', null, { timeout: 20_000 });
    const sim = pipeline.simulator!;
    const race = sim.plan().races[0]!;
    await page.waitForSelector(`.race[data-event="${race.id}"]`, { timeout: 20_000 });
    const runsBefore = (pipeline.subscriber.status().reconciliation as { runs: number }).runs;
    await sim.faults.changeWhileDisconnected(raceSettledChanges(sim.plan(), race));
    await waitFor(
      () => {
        const r = pipeline.subscriber.status().reconciliation as {
          runs: number;
          lastRun: { ok: boolean; corrections: number } | null;
          state: string;
        };
        return r.runs > runsBefore && r.state !== 'running' && r.lastRun?.ok && r.lastRun.corrections > 0;
      },
      { timeoutMs: 20_000, what: 'the reconciliation after the gap' },
    );
    const raceBox = page.locator(`.race[data-event="${race.id}"]`);
    await raceBox.locator('.result .corrected').waitFor({ timeout: 20_000 });
    await page.waitForFunction((id) => document.querySelectorAll(`.race[data-event="${id}"] .dchip .corrected`).length > 0, race.id, {
      timeout: 20_000,
    });
    expect(await raceBox.locator('.dchip .corrected').count()).toBe(race.products.length);
    expect(await raceBox.locator('.result .corrected').getAttribute('title')).toMatch(/Corrected after a reconnect/);
    // Races whose state the feed delivered live carry no mark.
    const other = sim.plan().races[1]!;
    expect(await page.locator(`.race[data-event="${other.id}"] .corrected`).count()).toBe(0);
  });
});
