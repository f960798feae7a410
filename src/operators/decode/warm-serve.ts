import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { createDispatcher } from '../../sources/dispatcher.js';
import { WARM_CLIP_BASE64 } from './warm-clip.js';

/**
 * Serves the bundled warm-up clip (warm-clip.ts) over loopback HTTP for one call of `use`, with a
 * throwaway dispatcher: the decode warm-up (warm.ts) and the pipeline's prime (src/pipelines/prime.ts) read
 * it as a run reads a challenge's URL. The server listens on 127.0.0.1, on a port of the system's choosing;
 * when `use` settles, the dispatcher is destroyed and the server closed with its connections.
 */
export async function withWarmClip<T>(
  name: string,
  use: (url: string, dispatcher: Dispatcher) => Promise<T>,
): Promise<T> {
  const clip = Buffer.from(WARM_CLIP_BASE64, 'base64');
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'video/mp4', 'content-length': clip.byteLength });
    response.end(request.method === 'HEAD' ? undefined : clip);
  });
  await listen(server);
  const dispatcher = createDispatcher();
  try {
    const { port } = server.address() as AddressInfo;
    return await use(`http://127.0.0.1:${port}/${name}`, dispatcher);
  } finally {
    await dispatcher.destroy().catch(() => undefined);
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
}
