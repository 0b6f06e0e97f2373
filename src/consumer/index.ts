export { PubSubConsumer, ConsumerStartError, type PubSubConsumerOptions, type SlowEnvelopeListener } from './pubsub-consumer.js';
export { subscriptionNameFor } from './subscription-name.js';
