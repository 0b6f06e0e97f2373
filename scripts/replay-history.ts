// `npm run replay-history`: put spilled or refused history rows back into the store, once its trouble is over.
import { loadConfig } from '../src/config/index.js';
import { runReplayCli } from '../src/history/replay-cli.js';

const code = await runReplayCli(process.argv.slice(2), loadConfig().history, {
  out: (t) => process.stdout.write(t + '\n'),
  err: (t) => process.stderr.write(t + '\n'),
});
process.exitCode = code;
