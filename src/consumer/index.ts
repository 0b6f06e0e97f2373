export { PubSubConsumer, ConsumerStartError, type PubSubConsumerOptions, type SlowEnvelopeListener } from './pubsub-consumer.js';
export type { ConsumerSubscriptionStatus, PubSubConsumerStatus } from './status.js';
export { subscriptionNameFor } from './subscription-name.js';
