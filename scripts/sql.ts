// `npm run sql -- "select ..."`: query the local history (DuckDB) and print a table.
import { loadConfig } from '../src/config/index.js';
import { runSqlCli } from '../src/history/sql-cli.js';

const code = await runSqlCli(process.argv.slice(2), loadConfig().history.duckdbPath, {
  out: (t) => process.stdout.write(t + '\n'),
  err: (t) => process.stderr.write(t + '\n'),
});
process.exitCode = code;
