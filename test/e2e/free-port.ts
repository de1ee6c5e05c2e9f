// Picks a TCP port on 127.0.0.1 that is free right now, by binding port 0 and
// releasing it. Another process can still grab it before the caller binds, so
// callers must detect "address already in use" and retry with a new port.
import { createServer } from 'node:net';

export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  server.unref();
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close((closeError) => {
        if (closeError) reject(closeError);
        else if (port === 0) reject(new Error('could not read the port bound on 127.0.0.1'));
        else resolve(port);
      });
    });
  });
}
