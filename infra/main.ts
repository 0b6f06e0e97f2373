import { App } from 'cdktf';
import { defineStacks } from './app.js';
import { ConfigError, loadInfraConfig } from './config.js';

/** The CDKTF app (cdktf.json runs it): the environment is read here, once. */
try {
  const app = new App();
  defineStacks(app, loadInfraConfig(process.env));
  app.synth();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(1);
}
