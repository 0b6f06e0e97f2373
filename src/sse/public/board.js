// The race-day board: one column per meeting, races in time order, each
// with its pools (gross, net, dividend), status, countdown and result.
import { clock, duration, esc, firstMoney, money, ordinal, shortId } from './format.js';

const TYPE_ORDER = ['WIN', 'PLACE', 'EXACTA', 'QUINELLA', 'TRIFECTA', 'SWINGER', 'SUPERFECTA', 'PLACEPOT', 'QUADPOT', 'JACKPOT', 'SCOOP6'];
const UNKNOWN_MEETING = 'Not on the card yet';
/** How long a pool row stays highlighted after its total changed. */
const FRESH_MS = 1500;
const DONE = new Set(['FINISHED', 'CANCELLED', 'ABANDONED']);
/** Column headers: which figure is gross, net and the dividend, without hovering. */
const POOL_HEAD =
  '<thead><tr><th scope="col">Pool</th><th scope="col">Status</th><th scope="col" class="num">Gross</th><th scope="col" class="num">Net</th><th scope="col" class="num">Dividend</th></tr></thead>';
const poolTable = (rows, cls = '') => `<table class="pools ${cls}">${POOL_HEAD}<tbody>${rows}</tbody></table>`;
/** Dividends are paid to the penny: always shown with pence, on the board and in the side list alike. */
const dividendMoney = (d) => money(d.amount, d.code);

const typeRank = (t) => {
  const i = TYPE_ORDER.indexOf(t);
  return i === -1 ? TYPE_ORDER.length : i;
};
const titleCase = (s) => String(s).charAt(0) + String(s).slice(1).toLowerCase();
/** Selling has not started (the card says UNKNOWN until a product opens). */
const statusLabel = (s) => (s === 'UNKNOWN' ? 'Pending' : titleCase(s));

/** Products and races arranged by meeting; ids without names go under UNKNOWN_MEETING. */
export function arrange(state) {
  const names = state.names;
  const meetings = new Map();
  const meeting = (venue) => {
    let m = meetings.get(venue);
    if (!m) meetings.set(venue, (m = { venue, races: new Map(), multi: [] }));
    return m;
  };
  const raceOf = (eventId) => {
    const ev = names.events[eventId];
    const m = meeting(ev?.venue || UNKNOWN_MEETING);
    let r = m.races.get(eventId);
    if (!r) m.races.set(eventId, (r = { id: eventId, name: ev?.name, start: ev?.scheduledStart, products: [] }));
    return r;
  };
  for (const id of Object.keys(names.events)) raceOf(id);
  for (const id of state.events.keys()) raceOf(id);
  const productIds = new Set([...Object.keys(names.products), ...state.products.keys()]);
  for (const id of productIds) {
    const n = names.products[id];
    const p = { id, name: n?.name, betType: n?.betType ?? null, eventIds: n?.eventIds ?? [] };
    if (p.eventIds.length === 1) raceOf(p.eventIds[0]).products.push(p);
    else if (p.eventIds.length > 1) meeting(names.events[p.eventIds[0]]?.venue || UNKNOWN_MEETING).multi.push(p);
    else meeting(UNKNOWN_MEETING).multi.push(p);
  }
  for (const m of meetings.values()) {
    m.raceList = [...m.races.values()].sort((a, b) => (a.start ?? '~').localeCompare(b.start ?? '~'));
    for (const r of m.raceList) r.products.sort((a, b) => typeRank(a.betType) - typeRank(b.betType));
    m.multi.sort((a, b) => typeRank(a.betType) - typeRank(b.betType) || String(a.name).localeCompare(String(b.name)));
  }
  return meetings;
}

function poolCells(state, p) {
  const pool = state.products.get(p.id)?.pool?.payload;
  const gross = pool ? firstMoney(pool.total?.grossAmounts, pool.total?.grossAmount) : null;
  const net = pool ? firstMoney(pool.total?.netAmounts, pool.total?.netAmount) : null;
  const div = dividendOf(state, p.id);
  return { gross, net, final: pool?.isFinalized === true, div };
}

/** The first declared dividend of a product: amount, and whether it is final. */
function dividendOf(state, productId) {
  const d = state.products.get(productId)?.dividends?.payload;
  const first = Array.isArray(d?.dividends) ? d.dividends[0] : undefined;
  if (!first) return null;
  const amt = firstMoney(first.dividend?.amounts, first.dividend?.amount);
  const status = first.dividend?.status ?? d?.status ?? '';
  return amt ? { ...amt, status, count: d.dividends.length } : null;
}

/** A value recovered after a reconnect (the feed missed it) is marked, so a reader knows it was corrected. */
const corrected = (aspect) =>
  aspect?.reconciled ? '<small class="corrected" title="Corrected after a reconnect, from Tote\'s query API">↻</small>' : '';

function productRow(state, p, now) {
  const c = poolCells(state, p);
  const aspects = state.products.get(p.id) ?? {};
  const status = state.productStatus(p.id);
  const fresh = now - (state.poolChangedAt.get(p.id) ?? 0) < FRESH_MS;
  const label = p.betType ? esc(titleCase(p.betType)) : `<code>${esc(shortId(p.id))}</code>`;
  const legs = p.eventIds.length > 1 ? ` (${p.eventIds.length} races)` : '';
  const title = esc((p.name ?? p.id) + legs);
  const divText = c.div
    ? c.div.status === 'FINAL'
      ? `<span title="Final dividend">${dividendMoney(c.div)}</span>`
      : `<span class="prov" title="Provisional dividend">${dividendMoney(c.div)}<small>P</small></span>`
    : '';
  return `<tr class="product${fresh ? ' fresh' : ''}" data-product="${esc(p.id)}" title="${title}">
    <td class="ptype">${label}</td>
    <td><span class="pill p-${esc(status)}">${esc(statusLabel(status))}</span>${corrected(aspects.status)}</td>
    <td class="num gross" title="${c.gross ? `Gross ${money(c.gross.amount, c.gross.code)}` : 'No pool total yet'}">${c.gross ? money(c.gross.amount, c.gross.code, true) : '<span class="muted">–</span>'}${c.final ? '<small class="final" title="Final pool total (betting closed)">✓</small>' : ''}${corrected(aspects.pool)}</td>
    <td class="num net" title="${c.net ? `Net ${money(c.net.amount, c.net.code)}` : ''}">${c.net ? money(c.net.amount, c.net.code, true) : ''}</td>
    <td class="num div"${c.div ? ` title="${esc(winnersText(state, p.id))}"` : ''}>${divText}${corrected(aspects.dividends)}</td>
  </tr>`;
}

/** A finished race folds to one line: each pool's dividend (or its final total while dividends are awaited). */
function dividendLine(state, products) {
  if (!products.length) return '';
  const chips = products.map((p) => {
    const c = poolCells(state, p);
    const type = p.betType ? titleCase(p.betType) : shortId(p.id);
    const winners = c.div ? winnersText(state, p.id) : '';
    const tip = `${p.name ?? p.id}: gross ${c.gross ? money(c.gross.amount, c.gross.code) : '–'}, net ${c.net ? money(c.net.amount, c.net.code) : '–'}${winners ? ` · ${winners}` : ''}`;
    const value = c.div
      ? `<b class="${c.div.status === 'FINAL' ? '' : 'prov'}">${dividendMoney(c.div)}${c.div.status === 'FINAL' ? '' : '<small>P</small>'}</b>`
      : `<span class="muted">${c.gross ? money(c.gross.amount, c.gross.code, true) : '–'}</span>`;
    return `<span class="dchip" data-product="${esc(p.id)}" title="${esc(tip)}">${esc(type)} ${value}${corrected(state.products.get(p.id)?.dividends)}</span>`;
  });
  return `<div class="divline">${chips.join('')}</div>`;
}

function countdown(status, start, now) {
  if (status === 'STARTED') return '<span class="cd cd-off">Off</span>';
  if (status === 'FINISHED') return '<span class="cd cd-done">Finished</span>';
  if (status === 'CANCELLED' || status === 'ABANDONED') return `<span class="cd cd-done">${esc(titleCase(status))}</span>`;
  const t = Date.parse(start ?? '');
  if (!Number.isFinite(t)) return '';
  const left = t - now;
  if (status === 'DELAYED') return `<span class="cd cd-due">Delayed</span>`;
  if (left < 1000) return `<span class="cd cd-due">Due off</span>`;
  return `<span class="cd${left < 120_000 ? ' cd-soon' : ''}" data-start="${t}" title="Time to the off">in ${duration(left)}</span>`;
}

function resultLine(state, raceId) {
  const ev = state.events.get(raceId);
  const res = ev?.result?.payload;
  const rows = Array.isArray(res?.competitorResults) ? res.competitorResults : [];
  const placed = rows
    .filter((r) => /^\d+$/.test(String(r.finishingPosition ?? '')))
    .sort((a, b) => Number(a.finishingPosition) - Number(b.finishingPosition))
    .slice(0, 3);
  const nr = Object.entries(ev?.competitors ?? {}).filter(([, a]) => a.payload?.status === 'WITHDRAWN');
  let html = '';
  if (placed.length) {
    const st = rows.find((r) => r.status)?.status ?? res.status ?? '';
    html += `<div class="result"><span class="rlabel">${st === 'FINAL' ? 'Result' : 'Provisional'}${corrected(ev.result)}</span>${placed
      .map((r) => `<span class="pos"><b>${ordinal(r.finishingPosition)}</b> ${runnerName(state, r.competitorId)}</span>`)
      .join('')}</div>`;
  }
  if (nr.length) {
    html += `<div class="nr">Non-runner${nr.length > 1 ? 's' : ''}: ${nr.map(([id]) => runnerName(state, id)).join(', ')}</div>`;
  }
  return html;
}

const idCode = (id) => `<code title="${esc(id)}">${esc(shortId(id))}</code>`;
const runnerOf = (state, competitorId) => {
  const c = state.names.competitors?.[competitorId];
  return c?.name ? c : null;
};
/** Selections are per product; the card ties each to the runner it backs. */
const selectionRunner = (state, selectionId) => state.names.selections?.[selectionId];

/** A runner by cloth (or trap) number and name; its short id until the card names it. */
export function runnerName(state, competitorId) {
  const c = runnerOf(state, competitorId);
  if (!c) return idCode(competitorId);
  const number = c.number != null ? `<span class="cloth">${esc(c.number)}</span> ` : '';
  return `<span class="runner" title="${esc(competitorId)}">${number}${esc(c.name)}</span>`;
}

function runnerText(state, competitorId) {
  const c = runnerOf(state, competitorId);
  if (!c) return shortId(competitorId);
  return c.number != null ? `${c.number} ${c.name}` : c.name;
}

export function selectionName(state, selectionId) {
  const competitorId = selectionRunner(state, selectionId);
  return competitorId ? runnerName(state, competitorId) : idCode(selectionId);
}

function selectionText(state, selectionId) {
  const competitorId = selectionRunner(state, selectionId);
  return competitorId ? runnerText(state, competitorId) : shortId(selectionId);
}

const byPosition = (a, b) => Number(a.finishingPosition) - Number(b.finishingPosition);
/** Place pools declare one line per placed runner; more than this is not a single race's. */
const MAX_DIVIDEND_LINES = 4;

/**
 * A single-race product's declared lines: the winning selections in
 * finishing order, with the amount. Empty for multi-race pools (a placepot's
 * line names every placed runner of six races).
 */
function winningLines(state, productId) {
  const d = state.products.get(productId)?.dividends?.payload;
  const lines = Array.isArray(d?.dividends) ? d.dividends : [];
  if (lines.length > MAX_DIVIDEND_LINES) return [];
  const out = [];
  for (const line of lines) {
    const legs = Array.isArray(line?.legs) ? line.legs : [];
    if (legs.length !== 1 || !Array.isArray(legs[0]?.selections)) return [];
    const ids = [...legs[0].selections].sort(byPosition).map((sel) => sel.id);
    out.push({ ids, money: firstMoney(line.dividend?.amounts, line.dividend?.amount) });
  }
  return out;
}

const winnersText = (state, productId) =>
  winningLines(state, productId)
    .map((l) => l.ids.map((id) => selectionText(state, id)).join(' – '))
    .join(', ');

function raceBlock(state, race, filters, now, timeZone) {
  const status = state.eventStatus(race.id);
  const products = race.products.filter((p) => !filters.types.size || (p.betType && filters.types.has(p.betType)));
  if (!products.length && filters.types.size) return '';
  if (filters.hideDone && DONE.has(status)) return '';
  const name = race.name ? esc(race.name) : `Race <code title="${esc(race.id)}">${esc(shortId(race.id))}</code>`;
  return `<article class="race s-${esc(status)}" data-event="${esc(race.id)}">
    <header>
      <time>${race.start ? clock(race.start, timeZone) : '--:--'}</time>
      <h3 title="${esc(race.name ?? race.id)}">${name}</h3>
      ${countdown(status, race.start, now)}
    </header>
    ${DONE.has(status) ? dividendLine(state, products) : products.length ? poolTable(products.map((p) => productRow(state, p, now)).join('')) : ''}
    ${resultLine(state, race.id)}
  </article>`;
}

/** Meetings keep their place all day (ordered by first race) until every race is run, then move to the end. */
const firstStart = (m) => m.raceList[0]?.start ?? '~';
const allRun = (state, m) => m.raceList.length > 0 && m.raceList.every((r) => DONE.has(state.eventStatus(r.id)));

/** Races finished before the last two fold into "Earlier races", so what is live stays near the top. */
const KEEP_FINISHED = 2;

function raceBlocks(state, m, filters, now, timeZone) {
  const blocks = m.raceList.map((r) => ({ done: DONE.has(state.eventStatus(r.id)), html: raceBlock(state, r, filters, now, timeZone) }));
  const lastDone = blocks.map((b) => b.done).lastIndexOf(true);
  const fold = [];
  const rest = [];
  blocks.forEach((b, i) => {
    if (!b.html) return;
    const finishedBefore = blocks.slice(i, lastDone + 1).filter((x) => x.done).length > KEEP_FINISHED;
    (b.done && finishedBefore ? fold : rest).push(b.html);
  });
  if (!fold.length) return rest.join('');
  const open = filters.openFolds?.has(m.venue) ? ' open' : '';
  return `<details class="earlier" data-venue="${esc(m.venue)}"${open}><summary>Earlier races (${fold.length})</summary>${fold.join('')}</details>${rest.join('')}`;
}

export function renderBoard(state, filters, now, timeZone) {
  const meetings = [...arrange(state).values()]
    .filter((m) => !filters.meeting || m.venue === filters.meeting)
    .sort((a, b) => {
      if (a.venue === UNKNOWN_MEETING) return 1;
      if (b.venue === UNKNOWN_MEETING) return -1;
      const done = Number(allRun(state, a)) - Number(allRun(state, b));
      return done || firstStart(a).localeCompare(firstStart(b)) || a.venue.localeCompare(b.venue);
    });
  const cols = [];
  for (const m of meetings) {
    const races = raceBlocks(state, m, filters, now, timeZone);
    const multi = m.multi.filter((p) => !filters.types.size || (p.betType && filters.types.has(p.betType)));
    if (!races && !multi.length) continue;
    const done = m.raceList.filter((r) => DONE.has(state.eventStatus(r.id))).length;
    cols.push(`<section class="meeting" data-venue="${esc(m.venue)}">
      <h2>${esc(m.venue)} <span class="sub">${m.raceList.length ? `${done}/${m.raceList.length} run` : ''}</span></h2>
      ${multi.length ? `<div class="multi"><h4>Multi-race pools</h4>${poolTable(multi.map((p) => productRow(state, p, now)).join(''), 'wide-type')}</div>` : ''}
      ${races}
    </section>`);
  }
  return cols.length ? cols.join('') : '<p class="empty">Nothing matches these filters yet.</p>';
}

/** Meetings and product types present, for the filter controls. */
export function filterChoices(state) {
  const venues = new Set();
  const types = new Set();
  for (const e of Object.values(state.names.events)) if (e.venue) venues.add(e.venue);
  for (const p of Object.values(state.names.products)) if (p.betType) types.add(p.betType);
  return {
    venues: [...venues].sort(),
    types: [...types].sort((a, b) => typeRank(a) - typeRank(b) || a.localeCompare(b)),
  };
}

/** "14:30 YORK · Win", or "YORK · Placepot" for a multi-race pool, from the card rather than the product's own name. */
function productLabel(state, p, timeZone) {
  const ev = state.names.events[p.eventIds?.[0]];
  const type = esc(p.betType ? titleCase(p.betType) : p.name);
  if (!ev) return p.name ? esc(p.name) : type;
  return p.eventIds.length === 1 ? `${clock(ev.scheduledStart, timeZone)} ${esc(ev.venue)} · ${type}` : `${esc(ev.venue)} · ${type}`;
}

/** Side panel: the latest results and dividends, newest first. */
export function renderDeclared(state, timeZone) {
  if (!state.declared.length) return '<li class="muted">Nothing declared yet.</li>';
  return state.declared
    .slice(0, 12)
    .map((d) => {
      // One time per line: the race's off time names it; when it was declared is on hover.
      const declaredAt = `Declared at ${clock(d.at, timeZone)}`;
      if (d.kind === 'result') {
        const ev = state.names.events[d.id];
        const rows = (d.aspect.payload?.competitorResults ?? [])
          .filter((r) => /^\d+$/.test(String(r.finishingPosition ?? '')))
          .sort((a, b) => Number(a.finishingPosition) - Number(b.finishingPosition))
          .slice(0, 3);
        const title = ev ? `${clock(ev.scheduledStart, timeZone)} ${esc(ev.venue)}` : `Race ${esc(shortId(d.id))}`;
        return `<li title="${declaredAt}"><span class="tag t-result">Result</span><b>${title}</b>
          <div>${rows.map((r) => `${ordinal(r.finishingPosition)} ${runnerName(state, r.competitorId)}`).join(' · ')}</div></li>`;
      }
      const p = state.names.products[d.id];
      const div = dividendOf(state, d.id);
      const label = p ? productLabel(state, p, timeZone) : `Product ${esc(shortId(d.id))}`;
      const status = div ? ` <small class="st">${div.status === 'FINAL' ? 'final' : 'provisional'}</small>` : '';
      const lines = winningLines(state, d.id);
      const body = lines.length
        ? lines
            .map(
              (l) =>
                `<span class="dl">${l.ids.map((id) => selectionName(state, id)).join(' – ')} <b>${l.money ? dividendMoney(l.money) : '–'}</b></span>`,
            )
            .join('')
        : div
          ? dividendMoney(div)
          : '';
      return `<li title="${declaredAt}"><span class="tag t-div">Dividend</span><b>${label}</b>${status}<div class="dlines">${body}</div></li>`;
    })
    .join('');
}

/** One sentence for screen readers when a result or dividend is declared live. */
export function announcement(state, env, timeZone) {
  if (env.type === 'EventResultChanged') {
    const ev = state.names.events[env.keys.eventId];
    const race = ev ? `${clock(ev.scheduledStart, timeZone)} ${ev.venue}` : 'a race';
    const rows = (env.payload?.competitorResults ?? [])
      .filter((r) => /^\d+$/.test(String(r.finishingPosition ?? '')))
      .sort((a, b) => Number(a.finishingPosition) - Number(b.finishingPosition))
      .slice(0, 3);
    return `Result, ${race}: ${rows.map((r) => `${ordinal(r.finishingPosition)} ${runnerText(state, r.competitorId)}`).join(', ')}.`;
  }
  if (env.type === 'PoolDividendChanged') {
    const p = state.names.products[env.keys.productId];
    const div = dividendOf(state, env.keys.productId);
    const label = p ? productLabel(state, p, timeZone).replace(/<[^>]+>/g, '') : 'a pool';
    return `Dividend, ${label}: ${div ? `${dividendMoney(div)} ${div.status === 'FINAL' ? 'final' : 'provisional'}` : 'declared'}.`;
  }
  return '';
}
