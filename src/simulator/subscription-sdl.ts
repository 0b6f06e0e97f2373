/**
 * SDL of the simulated subscriptions endpoint (/partner/connections/graphql/).
 *
 * Field names follow Tote's documented subscription shapes where they exist
 * (onPoolTotalChanged, the Messages page) and Tote's query schema otherwise;
 * every type is a superset of the catalog's bundled selection. Status fields
 * are String, not enums: Tote's own examples mix "CLOSED" and "Active".
 *
 * Decimal: money amounts are a custom `Decimal` scalar serialised as a JSON
 * number rounded to 2 places, as HotChocolate serialises .NET decimals.
 */
const BET_FIELDS = `
  "Tote's bet id (32 hex digits)."
  betId: String!
  toteId: String!
  "The partner's own bet id."
  customerBetId: String
  ticket: TicketRef
  productId: String!
  betType: BetTypeRef!
  stake: Money!
  status: String!`;

/** The six bet messages share their fields; each adds what its outcome carries. */
const BET_TYPES = (
  [
    ['BetAccepted', ''],
    ['BetRejected', 'reason: String!'],
    ['BetFailed', 'reason: String!'],
    ['BetCancelled', 'reason: String'],
    ['BetResulted', 'returns: BetReturns!'],
    ['BetSettled', 'returns: BetReturns!'],
  ] as const
)
  .map(([name, extra]) => `type ${name} implements BetMessage {${BET_FIELDS}\n  ${extra}\n}\n`)
  .join('\n');

export const SUBSCRIPTION_SDL = /* GraphQL */ `
"A decimal amount, serialised as a JSON number (at most 2 decimal places)."
scalar Decimal

type Currency {
  code: String!
  name: String
  symbol: String
}

type Money {
  decimalAmount: Decimal!
  currency: Currency!
  minorUnitsTotalAmount: Int!
  stringAmount: String!
}

"The single-value money shape Tote deprecated in February 2025."
type LegacyMoney {
  value: Decimal!
  currency: String!
}

type PoolAmounts {
  grossAmounts: [Money!]!
  netAmounts: [Money!]!
  grossAmount: LegacyMoney @deprecated(reason: "Use grossAmounts.")
  netAmount: LegacyMoney @deprecated(reason: "Use netAmounts.")
}

type PoolTakeout {
  percentage: Decimal!
}

type PoolFund {
  poolFundType: String!
  percentage: Decimal!
  total: PoolAmounts!
  carryIn: PoolAmounts!
}

type DateTime {
  iso8601: String!
}

type BetTypeRef {
  code: String!
}

type TicketRef {
  "The partner's ticket id."
  id: String!
  "Tote's ticket id."
  toteId: String!
}

interface BetMessage {${BET_FIELDS}
}

type BetReturns {
  totalAmount: Money!
  returnAmount: Money!
  refundAmount: Money!
}

${BET_TYPES}
type ProductStatusChanged {
  productId: String!
  status: String!
}

type SelectionStatusChanged {
  productId: String!
  legId: String
  selectionId: String!
  status: String!
}

type PoolTotalChanged {
  productId: String!
  isFinalized: Boolean!
  total: PoolAmounts!
  carryIn: PoolAmounts!
  guarantee: PoolAmounts
  takeout: PoolTakeout
  funds: [PoolFund!]!
}

type Dividend {
  name: String!
  type: String!
  status: String!
  amounts: [Money!]!
}

type DividendSelection {
  id: String!
  finishingPosition: String
}

type DividendLeg {
  legId: String!
  selections: [DividendSelection!]!
}

type DividendLine {
  dividend: Dividend!
  legs: [DividendLeg!]!
}

type PoolDividendChanged {
  productId: String!
  status: String
  dividends: [DividendLine!]!
}

type EventStatusChanged {
  eventId: String!
  status: String!
}

type CompetitorResult {
  competitorId: String!
  name: String
  finishingPosition: String
  status: String!
}

type EventResultChanged {
  eventId: String!
  status: String
  competitorResults: [CompetitorResult!]!
}

type VenueRef {
  id: String!
  name: String!
}

type EventUpdated {
  eventId: String!
  name: String
  status: String
  scheduledStartDateTime: DateTime
  venue: VenueRef
}

type CompetitorStatusChanged {
  eventId: String!
  competitorId: String!
  status: String!
}

type LineSelection {
  selectionId: String!
  finishingPosition: String
}

type LineLeg {
  legId: String!
  lineSelections: [LineSelection!]!
}

type Odds {
  name: String
  decimal: Decimal
  status: String
  type: String
}

type Line {
  legs: [LineLeg!]!
  odds: [Odds!]!
}

type LinesChanged {
  productId: String!
  lines: [Line!]!
}

type Query {
  "Liveness of the endpoint; queries live on the gateway."
  ping: String!
}

type Subscription {
  onBetAccepted: BetAccepted!
  onBetRejected: BetRejected!
  onBetFailed: BetFailed!
  onBetCancelled: BetCancelled!
  onBetResulted: BetResulted!
  onBetSettled: BetSettled!
  onProductStatusChanged: ProductStatusChanged!
  onSelectionStatusChanged: SelectionStatusChanged!
  onPoolTotalChanged: PoolTotalChanged!
  onPoolDividendChanged: PoolDividendChanged!
  onEventStatusChanged: EventStatusChanged!
  onEventResultChanged: EventResultChanged!
  onEventUpdated: EventUpdated!
  onCompetitorStatusChanged: CompetitorStatusChanged!
  onLinesChanged: LinesChanged!
}
`;
