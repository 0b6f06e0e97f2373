import type { App } from 'cdktf';
import type { InfraConfig } from './config.js';
import { FoundationStack } from './foundation/foundation-stack.js';
import { stackIds } from './names.js';
import { ServicesStack } from './services/services-stack.js';

/** The two stacks of one environment. The services stack is deployed after the foundation (and the image build). */
export function defineStacks(app: App, config: InfraConfig): { foundation: FoundationStack; services: ServicesStack } {
  const ids = stackIds(config.environment);
  const foundation = new FoundationStack(app, ids.foundation, config);
  const services = new ServicesStack(app, ids.services, config);
  services.addDependency(foundation);
  return { foundation, services };
}
