import type { Server } from 'node:http';
import { StartupError } from './startup-error.js';

/**
 * Listens, or fails with a StartupError that names the variable to change.
 * (Express 5's app.listen calls its callback on error too, so an address
 * taken used to surface later as "Cannot read properties of null".)
 */
export function listenOrExplain(server: Server, port: number, host: string, variable: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.close();
      if (err.code === 'EADDRINUSE') {
        reject(
          new StartupError(`${host}:${port} is already in use: set ${variable} to a free port (or stop what holds it)`, { cause: err }),
        );
      } else if (err.code === 'EACCES') {
        reject(new StartupError(`not allowed to listen on ${host}:${port}: set ${variable} to a port above 1023`, { cause: err }));
      } else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') {
        reject(new StartupError(`cannot listen on ${host}: it is not an address of this machine (check the host setting)`, { cause: err }));
      } else {
        reject(err);
      }
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}
