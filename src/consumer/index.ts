export { PubSubConsumer, ConsumerStartError, type PubSubConsumerOptions, type SlowEnvelopeListener } from './pubsub-consumer.js';
export { isReportingSource, type ReportingSource, type SourceStatus, type SourceState } from './source-status.js';
export { subscriptionNameFor } from './subscription-name.js';
