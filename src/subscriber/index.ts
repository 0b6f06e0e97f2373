export { startSubscriberService, type SubscriberService, type SubscriberServiceOptions } from './service.js';
