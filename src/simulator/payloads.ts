/**
 * Builders for the message payloads, shaped like the simulator's GraphQL
 * types (camelCase, as GraphQL delivers them). A payload carries every field
 * of its type; each operation's selection set decides what goes on the wire.
 */
import { round2, type BetTypeCode, type ProductPlan } from './day-plan.js';

export type Payload = Record<string, unknown>;

const GBP = { code: 'GBP', name: 'Pound Sterling', symbol: '£' };

export function money(amount: number): Payload {
  const value = round2(amount);
  return { decimalAmount: value, currency: GBP, minorUnitsTotalAmount: Math.round(value * 100), stringAmount: value.toFixed(2) };
}

/** Gross and net (after takeout) as lists of Money, plus the deprecated single-value shape. */
export function amounts(gross: number, takeout: number): Payload {
  const net = round2(gross * (1 - takeout));
  return {
    grossAmounts: [money(gross)],
    netAmounts: [money(net)],
    grossAmount: { value: round2(gross), currency: 'GBP' },
    netAmount: { value: net, currency: 'GBP' },
  };
}

export function poolTotal(product: ProductPlan, gross: number, isFinalized: boolean): Payload {
  const fundType = product.betType === 'PLACE' ? 'PLACE' : 'WIN';
  return {
    productId: product.id,
    isFinalized,
    total: amounts(gross, product.takeout),
    carryIn: amounts(0, 0),
    guarantee: product.guarantee ? amounts(product.guarantee, 0) : null,
    takeout: { percentage: round2(product.takeout * 100) },
    funds: [{ poolFundType: fundType, percentage: 100, total: amounts(gross, product.takeout), carryIn: amounts(0, 0) }],
  };
}

export interface LineOdds {
  legId: string;
  selectionIds: readonly string[];
  decimal: number;
}

export function linesChanged(product: ProductPlan, lines: readonly LineOdds[], status: string): Payload {
  return {
    productId: product.id,
    lines: lines.map((l) => ({
      legs: [
        { legId: l.legId, lineSelections: l.selectionIds.map((selectionId, i) => ({ selectionId, finishingPosition: String(i + 1) })) },
      ],
      odds: [{ name: product.betType, decimal: l.decimal, status, type: 'POOL' }],
    })),
  };
}

export interface DividendLine {
  amount: number;
  /** Per leg, the selections of the winning combination with their finishing positions. */
  legs: readonly { legId: string; selections: readonly { id: string; finishingPosition: string }[] }[];
}

export function poolDividend(product: ProductPlan, status: string, lines: readonly DividendLine[]): Payload {
  return {
    productId: product.id,
    status,
    dividends: lines.map((l) => ({
      dividend: { name: product.betType, type: 'POOL', status, amounts: [money(l.amount)] },
      legs: l.legs,
    })),
  };
}

export interface BetFacts {
  betId: string;
  customerBetId: string;
  ticketId: string;
  toteTicketId: string;
  productId: string;
  betType: BetTypeCode;
  stake: number;
}

export function betMessage(bet: BetFacts, status: string, extra: Payload = {}): Payload {
  return {
    betId: bet.betId,
    toteId: bet.betId,
    customerBetId: bet.customerBetId,
    ticket: { id: bet.ticketId, toteId: bet.toteTicketId },
    productId: bet.productId,
    betType: { code: bet.betType },
    stake: money(bet.stake),
    status,
    ...extra,
  };
}

export function betReturns(returned: number, refunded: number): Payload {
  return { returns: { totalAmount: money(returned + refunded), returnAmount: money(returned), refundAmount: money(refunded) } };
}
