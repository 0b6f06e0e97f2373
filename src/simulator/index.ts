export {
  startSimulator,
  SimulatorError,
  SUBSCRIPTIONS_PATH,
  GATEWAY_PATH,
  type Simulator,
  type SimulatorOptions,
  type SimulatorStats,
  type SimulatorFaults,
  type WireProtocol,
} from './simulator.js';
export { planDay, type DayPlan } from './day-plan.js';
export { DayTimeline, firstMessages, type TimelineOptions } from './day-timeline.js';
export type { TimedMessage } from './timed-message.js';
export { simulatorOptionsFrom } from './options.js';
export { raceSettledChanges, type GapChange } from './gap-changes.js';
