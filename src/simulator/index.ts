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
