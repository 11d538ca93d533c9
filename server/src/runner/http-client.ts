import http from 'node:http';
import https from 'node:https';

export type HttpResponse = { status: number; body: Buffer };

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 16 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 16 }),
};

/**
 * One HTTP request over node:http with keep-alive. The runner's internal-API client uses it
 * instead of the fetch API: grammY already loads node:http, while the first fetch call would load
 * undici and cost every runner process about 8 MB more (and undici cannot run in the runners'
 * V8 lite mode at all: its HTTP parser is WebAssembly).
 */
export function httpRequest(
  method: 'GET' | 'POST',
  url: string,
  options: { headers?: Record<string, string>; body?: string; signal?: AbortSignal } = {},
): Promise<HttpResponse> {
  const target = new URL(url);
  const transport = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      target,
      {
        method,
        agent: agents[target.protocol as 'http:' | 'https:'],
        headers: {
          ...options.headers,
          ...(options.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(options.body)) }
            : {}),
        },
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}
