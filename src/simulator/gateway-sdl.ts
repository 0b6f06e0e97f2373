/**
 * SDL of the simulated query gateway (/partner/gateway/graphql): a subset of
 * Tote's query schema, cut down to what the dashboard's day card reads. The
 * query the gateway client sends is in src/tote/gateway.ts; test/gateway.test.ts
 * validates it against this schema, so a query that leaves Tote's shapes
 * fails there first.
 *
 * Mirrored from Tote's published gateway schema (the SDL and introspection
 * dump in github.com/warmo1/autobet docs/tote_schema.graphqls, checked against
 * developers.services.tote.co.uk): every type, field and argument below has
 * Tote's name, type and nullability, so any path from Query to a field here
 * exists on Tote's gateway too.
 *   Query.events(since, until: DateTime; first, after) -> EventsConnection
 *   Query.products(date: Date; first, after) -> ProductsConnection
 *   Query.event(id) -> Event, Query.product(id) -> Product
 *   EventsConnection / ProductsConnection { pageInfo: PageInfo!, nodes }
 *   Event { id name scheduledStartDateTime: DateTimeWrapper status venue eventCompetitors }
 *   Venue { id name country: Country }
 *   EventCompetitorsConnection { nodes: [Competitor] } (Tote removed its paging)
 *   Competitor { id name entryStatus details: CompetitorDetails }, with
 *     HorseDetails.clothNumber and GreyhoundDetails.trapNumber
 *   Product and ProductType (interfaces), both implemented by BettingProduct.
 *     Since Tote's 10 Feb 2025 change, product fields are read through
 *     `type { ... on BettingProduct { ... } }`.
 *   BettingProduct { betType: BetTypeWithRulesGraphQl { code } selling { status } legs: LegsConnection country
 *     pool: BettingProductPool { total { grossAmount netAmount } takeout { percentage } }
 *     result: BettingProductResult { status dividends(first, after) -> DividendsConnection } }
 *   DividendLine { dividend: Dividend { name type status amount: Money } dividendLegs(first, after) }
 *   DividendLeg { id dividendSelections(first, after) }, DividendLegSelection { id finishingPosition }
 *   Event.result: EventResult { status results(first, after) -> ResultsConnection of EventCompetitorResult }
 *   Money { currency: Currency decimalAmount stringAmount minorUnitsTotalAmount }
 *   BettingProductLeg { id event selections: SelectionsConnection }
 *   BettingProductLegSelection { id name competitor: Competitor }
 *
 * The reconciliation after a reconnect reads selling status, pool totals,
 * results and dividends, event status and result, and entry status; the
 * simulator answers them from what it has announced on its subscriptions
 * (src/simulator/gateway-state.ts), falling back to its plan for an entity it
 * has announced nothing about.
 *
 * Left out (present on Tote, not needed for names): Mutation and everything
 * about bets, tickets and customers; the connections' `edges` (and the edge
 * types) and the deprecated `edges`/`pageInfo` of the unpaged connections;
 * `last`/`before` paging and the other filters of events (id, venue, country)
 * and products (id, betType(s), countryCode(s), venue(s), sellingStatus,
 * currencyCode); Query.competitor, eventCompetitor, lines, leg, selection;
 * the deprecated Event.competitors; the EventCompetitor
 * interface and its HorseRacingEventCompetitor / GreyhoundEventCompetitor;
 * BettingProduct.lines, lineHistory, supportedCurrencies; the pool's
 * guarantee, carryIn and funds and the takeout's amount; the `last`/`before`
 * paging of results, dividends and their legs and selections;
 * BetTypeWithRulesGraphQl.rules; BettingProductLeg.resulting and the
 * deprecated eventId; BettingProductLegSelection.status, totalUnits,
 * bettingSelectionId and the deprecated eventCompetitorId / eventCompetitor.
 * Country.numericCode is kept for the shape but the simulator leaves it null.
 *
 * Where the simulator differs from Tote (Tote documents none of these):
 * `date` is a London calendar date of the simulated day and defaults to the
 * current simulated day; `since`/`until` compare with the start times as
 * served (projected onto the real clock), both ends included, and may span at
 * most MAX_EVENT_WINDOW_DAYS simulated days; without either, events are the
 * current simulated day's; pages hold at most 250 (Tote's documented limit),
 * 50 by default, and cursors are base64 of an index.
 */
export const GATEWAY_SDL = /* GraphQL */ `
  "An ISO-8601 calendar date: YYYY-MM-DD."
  scalar Date

  "An ISO-8601 date and time with an offset, such as 2026-11-21T13:40:00Z."
  scalar DateTime

  enum EventStatus {
    UNKNOWN
    SCHEDULED
    STARTED
    FINISHED
    CANCELLED
    DELAYED
  }
  enum EntryStatus {
    UNKNOWN
    PROVISIONAL
    CONFIRMED
    WITHDRAWN
  }
  enum BettingProductSellingStatus {
    UNKNOWN
    OPEN
    CLOSED
  }
  enum ResultStatus {
    PENDING
    PROVISIONAL
    FINAL
  }
  enum BettingProductResultStatus {
    PROVISIONAL
    FINAL
  }
  enum DividendStatus {
    PROVISIONAL
    FINAL
  }
  enum DividendType {
    FIXED
    POOL
  }
  enum CurrencyCode {
    GBP
    EUR
    HKD
  }

  "The built-in Decimal scalar type."
  scalar Decimal

  type Currency {
    code: CurrencyCode!
    name: String
    number: Int!
    symbol: String
  }

  type Money {
    currency: Currency
    decimalAmount: Decimal!
    stringAmount: String
    minorUnitsTotalAmount: Int!
  }
  enum BetTypeCode {
    WIN
    PLACE
    SHOW
    EXACTA
    QUINELLA
    TRIFECTA
    DOUBLE
    TREBLE
    QUADPOT
    PLACEPOT
    PLACEPOT7
    SUPERFECTA
    SWINGER
    JACKPOT
    SCOOP6
    TRIO
    SURVIVOR
    IRISHJACKPOT
    V64
    V65
    V75
    G75
    V86
    V4
    V5
    FIRST4
    DOUBLETRIO
    TRIPLETRIO
    SIXUP
    QUARTET
  }

  type PageInfo {
    hasNextPage: Boolean!
    hasPreviousPage: Boolean!
    startCursor: String
    endCursor: String
  }

  type DateTimeWrapper {
    "Projected to real wall-clock time at the simulator's current speed."
    iso8601: String
  }

  type Country {
    name: String
    alpha2Code: String
    alpha3Code: String
    numericCode: String
  }

  type Venue {
    id: ID
    name: String
    country: Country
  }

  "Sport-specific facts of a competitor: HorseDetails for horse racing, GreyhoundDetails for greyhounds."
  interface CompetitorDetails {
    id: ID
  }

  type HorseDetails implements CompetitorDetails {
    id: ID
    clothNumber: Int!
  }

  type GreyhoundDetails implements CompetitorDetails {
    id: ID
    trapNumber: Int!
  }

  "A runner. Its id is the competitorId of CompetitorStatusChanged and EventResultChanged."
  type Competitor {
    id: ID
    name: String
    entryStatus: EntryStatus!
    details: CompetitorDetails
  }

  "Unpaged: nodes holds every competitor of the event, non-runners included (entryStatus WITHDRAWN)."
  type EventCompetitorsConnection {
    nodes: [Competitor]
  }

  type Event {
    id: ID
    name: String
    scheduledStartDateTime: DateTimeWrapper
    status: EventStatus!
    venue: Venue
    eventCompetitors: EventCompetitorsConnection
    "Null until a result has been declared."
    result: EventResult
  }

  type EventCompetitorResult {
    id: ID
    name: String
    finishingPosition: String
    status: ResultStatus!
  }

  "A connection to a list of items."
  type ResultsConnection {
    pageInfo: PageInfo!
    "A flattened list of the nodes."
    nodes: [EventCompetitorResult]
  }

  type EventResult {
    status: ResultStatus!
    results(first: Int, after: String): ResultsConnection
  }

  "A connection to a list of items."
  type EventsConnection {
    pageInfo: PageInfo!
    "A flattened list of the nodes."
    nodes: [Event]
  }

  interface ProductType {
    id: ID
    name: String
  }

  interface Product {
    id: ID
    name: String
    "The product itself as its kind of product: read BettingProduct fields with a fragment here."
    type: ProductType
  }

  type BetTypeWithRulesGraphQl {
    id: ID
    code: BetTypeCode!
  }

  type BettingProductSelling {
    status: BettingProductSellingStatus!
  }

  "A runner as offered in one product leg. Its id is the selectionId of SelectionStatusChanged and the selection id in dividends; each product has its own, so competitor ties it to the runner."
  type BettingProductLegSelection {
    id: String
    name: String
    competitor: Competitor
  }

  "Unpaged: nodes holds every selection of the leg."
  type SelectionsConnection {
    nodes: [BettingProductLegSelection]
  }

  type BettingProductLeg {
    id: String
    selections: SelectionsConnection
    event: Event
  }

  "Unpaged: nodes holds every leg of the product."
  type LegsConnection {
    nodes: [BettingProductLeg]
  }

  type BettingProductPoolTotal {
    grossAmount: Money
    netAmount: Money
  }

  type BettingProductPoolTakeout {
    percentage: Decimal!
  }

  "Null until the first pool total has been announced."
  type BettingProductPool {
    total: BettingProductPoolTotal
    takeout: BettingProductPoolTakeout
  }

  type Dividend {
    name: String
    type: DividendType!
    status: DividendStatus!
    amount: Money
  }

  type DividendLegSelection {
    id: String
    finishingPosition: String
  }

  "A connection to a list of items."
  type DividendSelectionsConnection {
    pageInfo: PageInfo!
    nodes: [DividendLegSelection]
  }

  type DividendLeg {
    id: String
    dividendSelections(first: Int, after: String): DividendSelectionsConnection
  }

  "A connection to a list of items."
  type DividendLegsConnection {
    pageInfo: PageInfo!
    nodes: [DividendLeg]
  }

  type DividendLine {
    dividend: Dividend
    dividendLegs(first: Int, after: String): DividendLegsConnection
  }

  "A connection to a list of items."
  type DividendsConnection {
    pageInfo: PageInfo!
    nodes: [DividendLine]
  }

  "Null until dividends have been declared."
  type BettingProductResult {
    status: BettingProductResultStatus!
    dividends(first: Int, after: String): DividendsConnection
  }

  type BettingProduct implements ProductType & Product {
    betType: BetTypeWithRulesGraphQl
    selling: BettingProductSelling
    legs: LegsConnection
    pool: BettingProductPool
    result: BettingProductResult
    country: Country
    id: ID
    name: String
    type: ProductType
  }

  "A connection to a list of items."
  type ProductsConnection {
    pageInfo: PageInfo!
    "A flattened list of the nodes."
    nodes: [Product]
  }

  type Query {
    events(since: DateTime, until: DateTime, first: Int, after: String): EventsConnection
    event(id: String): Event
    products(date: Date, first: Int, after: String): ProductsConnection
    product(id: String): Product
  }
`;
