// @ts-check
import { esc } from './format.js';

// Messages per second by type over the last two minutes, as stacked bars
// drawn on a canvas: one column per second, newest on the right.

/** @type {Record<string, string>} */
const PALETTE = {
  PoolTotalChanged: '#2ecc71',
  ProductStatusChanged: '#3498db',
  SelectionStatusChanged: '#5dade2',
  PoolDividendChanged: '#f1c40f',
  EventStatusChanged: '#e67e22',
  EventResultChanged: '#e74c3c',
  EventUpdated: '#d35400',
  CompetitorStatusChanged: '#af7ac5',
  LinesChanged: '#1abc9c',
  BetAccepted: '#95a5a6',
  BetRejected: '#7f8c8d',
  BetFailed: '#c0392b',
  BetCancelled: '#bdc3c7',
  BetResulted: '#a9cce3',
  BetSettled: '#d5dbdb',
};
const FALLBACK = '#8b98a5';

export const colourOf = (/** @type {string} */ type) => PALETTE[type] ?? FALLBACK;

export class RateChart {
  /** @param {HTMLCanvasElement} canvas @param {HTMLElement} legend @param {number} [seconds] */
  constructor(canvas, legend, seconds = 120) {
    this.canvas = canvas;
    this.legend = legend;
    this.seconds = seconds;
    /** second (epoch) -> Map(type -> count) @type {Map<number, Map<string, number>>} */
    this.buckets = new Map();
    this.total = 0;
    this.drawn = 0;
  }

  /** @param {string} type @param {number} [now] */
  record(type, now = Date.now()) {
    const sec = Math.floor(now / 1000);
    let b = this.buckets.get(sec);
    if (!b) this.buckets.set(sec, (b = new Map()));
    b.set(type, (b.get(type) ?? 0) + 1);
    this.total++;
  }

  /** Messages in the last `windowSec` seconds, all types. */
  /** @param {number} windowSec @param {number} [now] */
  recent(windowSec, now = Date.now()) {
    const last = Math.floor(now / 1000);
    let n = 0;
    for (let s = last - windowSec + 1; s <= last; s++) for (const v of this.buckets.get(s)?.values() ?? []) n += v;
    return n;
  }

  draw(now = Date.now()) {
    const last = Math.floor(now / 1000);
    const first = last - this.seconds + 1;
    for (const s of this.buckets.keys()) if (s < first) this.buckets.delete(s);

    const dpr = window.devicePixelRatio || 1;
    const cssW = this.canvas.clientWidth || 360;
    const cssH = this.canvas.clientHeight || 150;
    if (this.canvas.width !== Math.round(cssW * dpr)) {
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(cssH * dpr);
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);

    let max = 1;
    for (const b of this.buckets.values()) {
      let sum = 0;
      for (const v of b.values()) sum += v;
      max = Math.max(max, sum);
    }
    const scale = niceCeil(max);
    const padL = 28;
    const padB = 16;
    const plotW = cssW - padL - 4;
    const plotH = cssH - padB - 6;
    const colW = plotW / this.seconds;

    ctx.font = '10px system-ui, sans-serif';
    ctx.fillStyle = '#8b98a5';
    ctx.strokeStyle = 'rgba(139,152,165,0.18)';
    ctx.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const y = 6 + plotH * (1 - f);
      ctx.beginPath();
      ctx.moveTo(padL, Math.round(y) + 0.5);
      ctx.lineTo(cssW - 4, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(String(Math.round(scale * f)), 2, y + 3);
    }
    ctx.fillText('−2 min', padL, cssH - 3);
    ctx.fillText('now', cssW - 24, cssH - 3);

    const order = Object.keys(PALETTE);
    for (let s = first; s <= last; s++) {
      const b = this.buckets.get(s);
      if (!b) continue;
      const x = padL + (s - first) * colW;
      let y = 6 + plotH;
      const types = [...b.keys()].sort((a, c) => order.indexOf(a) - order.indexOf(c));
      for (const t of types) {
        const h = ((b.get(t) ?? 0) / scale) * plotH;
        ctx.fillStyle = colourOf(t);
        ctx.fillRect(x + 0.5, y - h, Math.max(1, colW - 1), h);
        y -= h;
      }
    }
    this.drawn++;
    this.drawLegend(now);
  }

  /** @param {number} now */
  drawLegend(now) {
    const last = Math.floor(now / 1000);
    const per = new Map();
    for (let s = last - 9; s <= last; s++) for (const [t, v] of this.buckets.get(s) ?? []) per.set(t, (per.get(t) ?? 0) + v);
    const seenTypes = new Set();
    for (const b of this.buckets.values()) for (const t of b.keys()) seenTypes.add(t);
    const rows = [...seenTypes].map((t) => ({ t, rate: (per.get(t) ?? 0) / 10 })).sort((a, b) => b.rate - a.rate || a.t.localeCompare(b.t));
    this.legend.innerHTML = rows.length
      ? rows
          .map((r) => `<li><i style="background:${colourOf(r.t)}"></i><span>${esc(r.t)}</span><b>${r.rate.toFixed(1)}/s</b></li>`)
          .join('')
      : '<li class="muted">No messages in the last two minutes.</li>';
  }
}

/** @param {number} v */
function niceCeil(v) {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
