import { existsSync, mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus } from '../src/bus/memory-bus.js';
import { loadConfig } from '../src/config/index.js';
import type { Envelope } from '../src/envelope/envelope.js';
import { createLogger } from '../src/log/logger.js';
import { startSseService, type SseService } from '../src/sse/index.js';
import type { DayCard } from '../src/day-card/day-card.js';
import { testEnvelope } from './helpers/envelopes.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} is not installed (apt-get install chromium)`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true and the browser test cannot run: ${missing}`);
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let clock = Date.now();
/** Strictly increasing stamps: the newest-wins rule orders by id. */
const envelope = (type: string, payload: Record<string, unknown>): Envelope => testEnvelope(type, payload, new Date(++clock));
const gbp = (decimalAmount: number) => [{ decimalAmount, currency: { code: 'GBP' } }];

const at = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
const runners = (race: string) =>
  ['Swift Reply', 'Northern Lights', 'Quiet Harbour', 'Long Division'].map((name, i) => ({ id: `${race}-c${i + 1}`, name, number: i + 1 }));
const TYPES = ['WIN', 'PLACE', 'EXACTA', 'TRIFECTA'];
const CARD: DayCard = {
  events: [
    { id: 'r1', name: 'Maiden Stakes', venue: 'YORK', scheduledStart: at(-30), status: 'FINISHED', competitors: runners('r1') },
    { id: 'r2', name: 'Handicap Chase', venue: 'YORK', scheduledStart: at(20), status: 'SCHEDULED', competitors: runners('r2') },
    { id: 'r3', name: 'Novice Hurdle', venue: 'KEMPTON PARK', scheduledStart: at(35), status: 'SCHEDULED', competitors: runners('r3') },
  ],
  products: ['r1', 'r2', 'r3'].flatMap((race) =>
    TYPES.map((t) => ({
      id: `${race}-${t}`,
      name: `${race} ${t}`,
      betType: t,
      eventIds: [race],
      status: 'OPEN',
      selections: runners(race).map((c) => ({ id: `${race}-${t}-s-${c.id}`, competitorId: c.id })),
    })),
  ),
  truncated: false,
};

const result = (race: string) =>
  envelope('EventResultChanged', {
    eventId: race,
    competitorResults: [1, 2, 3].map((pos) => ({ competitorId: `${race}-c${pos}`, finishingPosition: pos, status: 'FINAL' })),
  });
const dividend = (race: string, amount: number) =>
  envelope('PoolDividendChanged', {
    productId: `${race}-WIN`,
    dividends: [
      {
        dividend: { amounts: gbp(amount), status: 'FINAL' },
        legs: [{ selections: [{ id: `${race}-WIN-s-${race}-c1`, finishingPosition: 1 }] }],
      },
    ],
  });

function dayMessages(): Envelope[] {
  const out: Envelope[] = [];
  for (const p of CARD.products) {
    out.push(envelope('ProductStatusChanged', { productId: p.id, status: p.eventIds[0] === 'r1' ? 'CLOSED' : 'OPEN' }));
    out.push(envelope('PoolTotalChanged', { productId: p.id, total: { grossAmounts: gbp(27_345.5), netAmounts: gbp(20_236.67) } }));
  }
  out.push(envelope('EventStatusChanged', { eventId: 'r1', status: 'FINISHED' }), result('r1'), dividend('r1', 1_234.56));
  return out;
}

const VIEWPORTS = [
  { name: 'desktop', width: 1366, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

describe.skipIf(Boolean(missing))(
  `dashboard at desktop and phone sizes, with an accessibility check ${missing ? `(skipped: ${missing})` : ''}`,
  () => {
    const out = mkdtempSync(join(tmpdir(), 'dashboard-'));
    const bus = new MemoryBus();
    let sse: SseService;
    let browser: Browser;
    const pages = new Map<string, Page>();
    const pageErrors: string[] = [];

    beforeAll(async () => {
      // Staleness is shown when the server goes away (below), never by the clock of a slow run.
      const config = loadConfig({ SSE_FEED_WINDOW_START: '00:00', SSE_FEED_WINDOW_END: '00:00', SSE_STALE_AFTER_MS: '86400000' }).sse;
      sse = await startSseService({
        config: { ...config, port: 0, host: '127.0.0.1' },
        source: bus,
        log: createLogger({ test: 'browser-a11y' }),
      });
      await bus.publishDayCard(CARD);
      for (const e of dayMessages()) await bus.publish(e);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      for (const v of VIEWPORTS) {
        const page = await browser.newPage({ viewport: { width: v.width, height: v.height } });
        page.on('pageerror', (err) => pageErrors.push(`${v.name}: ${String(err)}`));
        await page.goto(sse.url + '/');
        await page.waitForFunction(() => document.querySelectorAll('.meeting').length === 2 && document.querySelector('.declared .t-div'));
        pages.set(v.name, page);
      }
    });

    afterAll(async () => {
      await browser?.close();
      await sse?.close();
      await bus.close();
    });

    for (const v of VIEWPORTS) {
      describe(`at ${v.name} size (${v.width}×${v.height})`, () => {
        it('has one h1, column headers on every pool table, and pressed state on the filter chips', async () => {
          const page = pages.get(v.name)!;
          expect(await page.locator('h1').count()).toBe(1);
          const heads = await page.$$eval('table.pools', (ts) =>
            ts.map((t) => Array.from(t.querySelectorAll('thead th[scope=col]')).map((th) => th.textContent?.trim())),
          );
          expect(heads.length).toBeGreaterThan(0);
          for (const h of heads) expect(h).toEqual(['Pool', 'Status', 'Gross', 'Net', 'Dividend']);
          const chip = page.locator('#filter-types .chip', { hasText: 'PLACE' });
          expect(await chip.getAttribute('aria-pressed')).toBe('false');
          await chip.click();
          expect(await chip.getAttribute('aria-pressed')).toBe('true');
          await chip.click();
          expect(await chip.getAttribute('aria-pressed')).toBe('false');
          // The board is redrawn a moment later: every pool type is back.
          await page.waitForFunction(() =>
            ['Win', 'Place', 'Exacta', 'Trifecta'].every((t) => document.querySelector('#board')!.textContent.includes(t)),
          );
        });

        it('shows a dividend of £1,000 or more to the penny on the board and in the side list alike, each result with one time', async () => {
          const page = pages.get(v.name)!;
          expect(await page.locator('.board').innerText()).toContain('£1,234.56');
          const side = await page.locator('#declared').innerText();
          expect(side).toContain('£1,234.56');
          const lines = await page.locator('#declared li').allInnerTexts();
          expect(lines.length).toBeGreaterThanOrEqual(2);
          for (const li of lines) expect(li.match(/\d\d:\d\d/g) ?? [], li).toHaveLength(1);
          // "final" sits beside its pool's name, on the same line.
          // One synchronous look: the list is redrawn several times a second.
          const st = await page.evaluate(() => {
            const el = document.querySelector('#declared .st')!;
            const b = el.previousElementSibling!.getBoundingClientRect();
            const s = el.getBoundingClientRect();
            return { sameLine: Math.abs(b.bottom - s.bottom) < b.height, nowrap: getComputedStyle(el).whiteSpace };
          });
          expect(st).toEqual({ sameLine: true, nowrap: 'nowrap' });
        });

        it('cuts no pool type, figure or chart legend name', async () => {
          const page = pages.get(v.name)!;
          // The legend lists the types that arrived live.
          for (const type of ['ProductStatusChanged', 'PoolTotalChanged', 'SelectionStatusChanged', 'CompetitorStatusChanged']) {
            const keys = { productId: 'r3-WIN', eventId: 'r3', selectionId: 'r3-WIN-s-r3-c1', competitorId: 'r3-c1' };
            await bus.publish(
              envelope(type, { ...keys, status: 'OPEN', total: { grossAmounts: gbp(123_456.78), netAmounts: gbp(99_999.99) } }),
            );
          }
          await page.waitForFunction(() => document.querySelectorAll('#rate-legend li span').length >= 4);
          const cut = await page.$$eval('.pools td, .pools th, #rate-legend li span', (els) =>
            els.filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent?.trim()),
          );
          expect(cut).toEqual([]);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          expect(overflow).toBeLessThanOrEqual(0);
        });

        it('has no serious or critical accessibility violations (axe-core), and saves a screenshot', async () => {
          const page = pages.get(v.name)!;
          await page.addScriptTag({ path: AXE });
          const violations = await page.evaluate(async () => {
            const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: any[] }> } }).axe;
            const r = await axe.run(document, { resultTypes: ['violations'] });
            return r.violations
              .filter((x) => x.impact === 'serious' || x.impact === 'critical')
              .map((x) => `${x.id} (${x.impact}): ${x.nodes.length} × ${x.nodes[0]?.target?.join(' ')}`);
          });
          expect(violations).toEqual([]);
          const path = join(out, `dashboard-${v.name}.png`);
          await page.screenshot({ path, fullPage: v.name === 'phone' });
          console.log(`screenshot: ${path}`);
          expect(existsSync(path)).toBe(true);
        });
      });
    }

    it('on a phone the header stays small and the latest results come before the board', async () => {
      const page = pages.get('phone')!;
      const r = await page.evaluate(() => ({
        header: document.querySelector('header.top')!.getBoundingClientRect().height,
        headerPosition: getComputedStyle(document.querySelector('header.top')!).position,
        results: document.querySelector('.declared-panel')!.getBoundingClientRect().top,
        board: document.querySelector('#board')!.getBoundingClientRect().top,
      }));
      expect(r.header).toBeLessThan(844 * 0.2);
      expect(r.headerPosition).not.toBe('sticky');
      expect(r.results).toBeLessThan(r.board);
    });

    it('announces a result and a dividend declared while the page is open', async () => {
      const page = pages.get('desktop')!;
      for (const e of [envelope('EventStatusChanged', { eventId: 'r2', status: 'FINISHED' }), result('r2'), dividend('r2', 4.2)])
        await bus.publish(e);
      await page.waitForFunction(() => document.querySelectorAll('#announce p').length >= 2);
      const said = await page.locator('#announce p').allInnerTexts();
      expect(said.some((t) => /^Result, \d\d:\d\d YORK: 1st 1 Swift Reply, 2nd 2 Northern Lights, 3rd 3 Quiet Harbour\.$/.test(t))).toBe(
        true,
      );
      expect(said.some((t) => /^Dividend, .*YORK · Win: £4\.20 final\.$/.test(t))).toBe(true);
      expect(await page.getAttribute('#announce', 'aria-live')).toBe('polite');
    });

    it('dims the board and says since when once the server is gone, instead of looking live', async () => {
      const page = pages.get('desktop')!;
      expect(await page.evaluate(() => document.body.classList.contains('not-live'))).toBe(false);
      await sse.close();
      await page.waitForFunction(() => document.body.classList.contains('not-live'));
      const note = await page.locator('#stale-note').innerText();
      expect(note).toMatch(/^Not live: last message at \d\d:\d\d\. Pools, statuses and figures below may be out of date\.$/);
      expect(Number(await page.$eval('#board', (el) => getComputedStyle(el).opacity))).toBeLessThan(1);
      const path = join(out, 'dashboard-not-live.png');
      await page.screenshot({ path });
      console.log(`screenshot: ${path}`);
      expect(pageErrors).toEqual([]);
    });
  },
);
