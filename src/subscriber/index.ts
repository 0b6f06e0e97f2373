export { startSubscriberService, type SubscriberService, type SubscriberServiceOptions } from './service.js';
export type { PublishLatency, SubscriberStatus } from './status.js';
