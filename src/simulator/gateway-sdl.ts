/**
 * SDL of the simulated query gateway (/partner/gateway/graphql): the small
 * part of Tote's query schema the dashboard needs for names. Shapes follow
 * Tote's gateway (connections with `nodes` and `pageInfo`, cursors that are
 * base64 of an index, at most 250 per page, `date` as YYYY-MM-DD defaulting
 * to today); it has no Subscription type, as Tote's gateway has none.
 *
 * The query the gateway client sends is in src/tote/gateway.ts.
 */
export const GATEWAY_SDL = /* GraphQL */ `
enum EventStatus { UNKNOWN SCHEDULED STARTED FINISHED CANCELLED DELAYED }
enum EntryStatus { UNKNOWN PROVISIONAL CONFIRMED WITHDRAWN }
enum BettingProductSellingStatus { UNKNOWN OPEN CLOSED }
enum BetTypeCode { WIN PLACE SHOW EXACTA QUINELLA TRIFECTA DOUBLE TREBLE QUADPOT PLACEPOT PLACEPOT7 SUPERFECTA SWINGER JACKPOT SCOOP6 }

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

type DateTime {
  iso8601: String!
}

type Country {
  name: String!
  alpha2Code: String!
  alpha3Code: String!
}

type Venue {
  id: String!
  name: String!
  country: Country!
}

"Sport-specific facts of a competitor: HorseDetails for horse racing, GreyhoundDetails for greyhounds."
interface CompetitorDetails {
  id: String!
}

type HorseDetails implements CompetitorDetails {
  id: String!
  clothNumber: Int!
}

type GreyhoundDetails implements CompetitorDetails {
  id: String!
  trapNumber: Int!
}

"A runner. Its id is the competitorId of CompetitorStatusChanged and EventResultChanged."
type Competitor {
  id: String!
  name: String!
  entryStatus: EntryStatus!
  details: CompetitorDetails
}

"Tote removed paging from this connection: nodes holds every competitor of the event."
type EventCompetitorsConnection {
  nodes: [Competitor!]!
}

type Event {
  id: String!
  name: String!
  "Projected to real wall-clock time at the simulator's current speed."
  scheduledStartDateTime: DateTime!
  status: EventStatus!
  venue: Venue!
  "Every runner declared for the event, non-runners included (entryStatus WITHDRAWN)."
  eventCompetitors: EventCompetitorsConnection!
}

type BetType {
  code: BetTypeCode!
}

type Selling {
  status: BettingProductSellingStatus!
}

"A runner as offered in one product leg. Its id is the selectionId of SelectionStatusChanged and the selection id in dividends; each product has its own, so competitor ties it to the runner."
type ProductLegSelection {
  id: String!
  competitor: Competitor!
}

type ProductLeg {
  id: String!
  event: Event!
  selections: [ProductLegSelection!]!
}

type Product {
  id: String!
  name: String!
  type: BetType!
  legs: [ProductLeg!]!
  selling: Selling!
}

"A connection to a list of items."
type EventConnection {
  "A flattened list of the nodes."
  nodes: [Event!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

"A connection to a list of items."
type ProductConnection {
  "A flattened list of the nodes."
  nodes: [Product!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

type Query {
  events(date: String, first: Int, after: String): EventConnection!
  products(date: String, first: Int, after: String): ProductConnection!
  event(id: String!): Event
  product(id: String!): Product
}
`;
